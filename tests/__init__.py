"""synth2seg tests (a package, so that `tests.conftest` is ours and not a site-packages `tests`)."""
