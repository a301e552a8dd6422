"""Cases: the referral and everything recorded on it as it moves through its workflow."""
