"""Everything about an account in one place: the accounts themselves and the rows only they use (``tables``:
``User``, recovery codes, failures, login sessions), logging in with its lock-out, login sessions and where a login
may lead next (``logins``), the second factor with its time codes, recovery codes and QR code (``two_factor``),
making accounts and setting passwords (``passwords``), the forms a person fills in to do all that (``forms``) and
the /admin/account pages (``pages``, a blueprint nested in admin/dashboard.py). The rules here may import models,
audit, commenters, forms and the leaves; the admin pages, cli.py and transfer/ import them, and only
admin/dashboard.py imports the pages. This file imports nothing, so that using one module does not load them all.
"""
