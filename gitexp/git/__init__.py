"""The only package that touches a repository.

dulwich (``repo.py``), fast readers and writers of git's own files (``files.py``,
``indexfile.py``, ``trees.py``) and the git binary (``binary.py``).
"""
