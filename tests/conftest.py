"""Root of the test tree: pytest puts this folder on ``sys.path``, so shared helpers
(``engine_toys``) import from any sub-folder."""
