"""ddpm_book: what exists only to teach, over the library ``ddpm_lib``.

One module per chapter for that chapter's figures and helpers
(:mod:`ddpm_book.schedules`, :mod:`ddpm_book.forward`, …), the exercises
and their grading (:mod:`ddpm_book.exercises`), the explorers that work on
the static site (:mod:`ddpm_book.explorer`), the notation table, notebook
helpers, progress bars and the fast/build switches
(:mod:`ddpm_book.modes`). This package imports ``ddpm_lib``; ``ddpm_lib``
never imports it.
"""
