"""`sockdeploy doctor`: every check a run needs, with fixes."""
