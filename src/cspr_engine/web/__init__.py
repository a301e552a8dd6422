"""The web UI: server-rendered pages (Jinja2, GOV.UK Frontend) over the same services as the API.

Pages read and change cases through the services the API uses (`workflow.service.fire` is still
the one door), so a form shows the same validation errors as a problem response would; reads of
cases are written to the access log like API reads.
"""
