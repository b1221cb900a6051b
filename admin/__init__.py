"""The owner's desk under /admin: everything the blog's owner does from the browser. ``dashboard`` is the /admin
blueprint itself (login, the dashboard, the audit log, export and import of Inkwell's own format) and the hooks every
admin page shares; the others are blueprints nested in it: ``editor`` writes posts and pages (its form in
``post_form``), ``history`` keeps and restores their versions, ``autosave`` saves a draft while it is typed,
``trash`` keeps deleted posts and comments for a while, ``moderation`` is the comment queue with the one
``moderate`` that the queue, the email links and the CLI all call, ``tags`` renames, merges and describes tags,
``media`` lists the uploaded images with where each is used and keeps their trash (its rules in ``library``, which
the editor inserts images with), ``site_settings`` edits the settings kept in the database, and ``moving_in``
imports another blog with a dry run first. ``tables`` holds the rows only the desk uses (versions, autosaves, saved
settings, moderation undos and the emails they hold, uploaded images). The account pages are nested here too, from
account/. This file imports nothing, so that using one module does not load them all.
"""
