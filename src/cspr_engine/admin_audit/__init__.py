"""The administrative audit: every change to accounts, roles, tokens, passwords, webhooks, the
calendar and workflow configuration, append-only, read by a partnership's scrutineer and panel
chair (and platform administrators, for platform changes)."""
