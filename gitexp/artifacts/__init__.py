"""A run's large outputs: recorded into DVC's cache, restored, collected.

``dvc.py`` is the only module that imports DVC.
"""
