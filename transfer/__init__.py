"""Moving a blog in and out: ``export`` writes the whole blog as Inkwell's lossless export (sorted JSON, or a zip with
the images as files); ``inkwell`` reads such an export back into an empty blog in one transaction; ``wordpress``
imports a WordPress (WXR) export, whose XML ``wxr`` reads (its comments: ``wordpress_comments``), its posts and
comments as HTML (``wpautop`` writes out the paragraphs WordPress adds when it shows them); ``ghost`` a Ghost JSON
export; ``static_site`` the Markdown posts of a Jekyll, Hugo, Pelican or Eleventy folder (read by
``markdown_files``); ``media`` brings in the images an imported blog's posts show, from a copy of its files;
``backup`` copies the live database (SQLite's backup API, or ``pg_dump``); ``record`` runs an import from another
blog as one transaction (a dry run, or kept with a record of what it created, in ``tables``, so that it can be
undone); ``common`` holds what they share (``TransferError``, ``ImportSummary``, ``ImportResult``, the one size
limit, the ``Tracker`` progress hook, ``has_content``); ``commands`` are their ``flask`` commands. Every file to
import may come from someone else, so nothing in it is trusted more than what a stranger types. The admin's data
pages (``/admin/data``, and ``/admin/import`` in admin/moving_in.py) and the CLI call these modules.
"""
