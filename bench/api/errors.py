"""The one exception type for mistakes a user can cause.

The CLI prints its message on one line and exits with code 2; anything else is a bug in
synth2seg and keeps its traceback.
"""


class UserError(Exception):
    """A problem in the user's input: the message names the file or field and what was expected."""


class TrainingDiverged(RuntimeError):
    """A segmenter's loss stopped being a finite number: its weights mean nothing. Not a
    UserError: in a run it fails its cell (recorded with this one-line message), not the run."""


class DataError(UserError):
    """A dataset on disk is missing, malformed or inconsistent."""


class ConfigError(UserError):
    """A configuration field or a name (generator, segmenter, preset) is not valid."""


def validated(model, fields: dict, what: str):
    """``model(**fields)``, its first validation error as a ConfigError naming ``what`` and the
    field, e.g. "segmenter 'unet2d' parameter 'steps': Input should be a valid integer"."""
    import pydantic

    try:
        return model(**fields)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(map(str, err["loc"]))
        raise ConfigError(f"{what} '{loc}': {err['msg']}") from None
