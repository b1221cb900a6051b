"""Everything about an account in one place: the tables only accounts use (``tables``), logging in with its
lock-out, login sessions and where a login may lead next (``logins``), the second factor with its time codes,
recovery codes and QR code (``two_factor``), making accounts and setting passwords (``passwords``), the forms a
person fills in to do all that (``forms``) and the /admin/account pages (``pages``, a blueprint nested in admin.py).
``User`` itself stays in models.py, since posts and comments point at it. The rules here may import models,
audit, commenters, forms and the leaves; admin.py, moderation.py, cli.py and transfer.py import them, and only
admin.py imports the pages. This file imports nothing, so that using one module does not load them all.
"""
