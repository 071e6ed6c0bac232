"""The benchmark matrix configuration: YAML validated by pydantic.

Unknown keys are refused with the nearest valid name suggested, so a typo never silently drops
an axis of the matrix. Presets ship with the package in ``bench/presets/``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.api.augment_sets import known_set
from bench.api.errors import ConfigError

# Upper bounds of every size a config can ask for: far above any real benchmark, low enough that
# a typo (an extra zero or two) is refused up front instead of allocating for hours.
MAX_COUNT = 100_000  # synthetic samples (or cases) per generator
MAX_NODES = 100_000  # values in one YAML document, aliases expanded (a "billion laughs" bomb)
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # numpy and torch seeds: unsigned 32-bit


def parse_overrides(items: list[str]) -> dict:
    """``--set key=value`` pairs; values are YAML scalars or lists (``patch=[64,64]``)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set '{item}': expected key=value")
        try:
            params[key.strip()] = _bounded(yaml.safe_load(value), f"--set '{key.strip()}'")
        except yaml.YAMLError:
            raise ConfigError(f"--set '{item}': the value is not valid YAML (quote text, "
                              "write lists as [a, b])") from None
    return params

PRESETS = Path(__file__).parents[1] / "presets"  # bench/presets


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Strict):
    """Fractions of the dataset; the training part is what the others leave."""

    val: float = Field(0.15, ge=0.0, lt=1.0)
    test: float = Field(0.25, ge=0.0, lt=1.0)
    seed: Seed = 0
    train_cases: int | None = Field(None, ge=1, le=MAX_COUNT)  # keep this many real training cases
    # Part of the labelled target set held out to pick the target stage's checkpoint (MedGen3D
    # E3: 10 fine-tuning and 5 validation scans); 0 keeps the last weights of that stage.
    target_val: float = Field(0.25, ge=0.0, lt=1.0)


class FidelityConfig(_Strict):
    """How generated samples are judged against the real data (see :mod:`bench.fidelity.judge`)."""

    enabled: bool = True
    weights_dir: str | None = None  # Inception / AlexNet weights; also --weights-dir
    # feature spaces for FD/KID/PRDC and their real-vs-real floors (see README, "Fidelity")
    extractors: list[Literal["inception", "radimagenet", "medicalnet", "in-domain"]] = Field(
        default_factory=lambda: ["inception", "in-domain"], min_length=1)
    planes: list[Literal["axial", "coronal", "sagittal"]] = Field(  # 2D features of volumes
        default_factory=lambda: ["axial", "coronal", "sagittal"], min_length=1)
    nearest_k: int = Field(5, ge=1, le=1000)  # k of precision / recall / density / coverage
    offline: bool = False  # never fetch weights (also --offline, SYNTH2SEG_OFFLINE=1)
    max_images: int = Field(1000, ge=2, le=MAX_COUNT)  # per view and side
    pairs: int = Field(100, ge=1, le=MAX_COUNT)  # random pairs for the diversity means
    near_copy: float = Field(1 / 3, gt=0.0)  # memorisation threshold (x held-out's distance)
    seed: Seed = 0


class ReportConfig(_Strict):
    """How the leaderboard states its uncertainty (see :mod:`bench.report.uncertainty`); changes no
    cell, so a finished run can be reported again with other values."""

    resamples: int = Field(1000, ge=100, le=MAX_COUNT)  # bootstrap resamples
    rope: float = Field(0.01, ge=0.0)  # practical equivalence, in the primary metric's units
    seed: Seed = 0


def _sizes(values: list[int], what: str) -> list[int]:
    """Sorted distinct sizes, each from 1 to MAX_COUNT (a typo's extra zeros are refused)."""
    if any(n < 1 or n > MAX_COUNT for n in values):
        raise ValueError(f"{what} from 1 to {MAX_COUNT}")
    return sorted(set(values))


class LearningCurveConfig(_Strict):
    """The real-only baseline again on fewer real cases (see :mod:`bench.run.learning_curve`)."""

    train_cases: list[pydantic.StrictInt] = Field(min_length=1, max_length=100)  # each <= real
    seed: Seed = 0  # which cases a smaller training set keeps (with each cell's seed)

    @field_validator("train_cases")
    @classmethod
    def _positive_sizes(cls, value):
        return _sizes(value, "training-set sizes must be whole numbers")


class SegmenterSpec(_Strict):
    name: str
    preset: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None  # how the leaderboard names it (default: name[:preset])

    @property
    def display(self) -> str:
        return self.label or (f"{self.name}:{self.preset}" if self.preset else self.name)


class GeneratorSpec(SegmenterSpec):
    # Style images handed to sampling (SampleContext.style), e.g. unlabelled target-domain
    # images for brainSPADE's S_n-ood / S_f-ood: a dataset spec, labels not required.
    style: str | None = None
    # 'cases': a count is a number of generated cases (patients); a 2D generator then samples
    # count x the real training data's slices per case (bench.api.slices.slices_per_case).
    count_unit: Literal["samples", "cases"] = "samples"
    # a folder written by 'synth2seg generator fit' (here or elsewhere): sampled, never fitted;
    # its preset and params are the ones it was fitted with
    fitted: str | None = None
    # a labelled dataset spec the generator is fitted on in place of the run's training split,
    # as brainSPADE's paper generator learnt from other cohorts and contrasts (SABRE, ADNI2,
    # BRATS) than its segmenters' training data; same labels, the run's channels among its own
    fit_data: str | None = None

    @model_validator(mode="after")
    def _fitted_has_its_own_params(self):
        if self.fitted is not None and (self.preset is not None or self.params):
            raise ValueError(f"generator '{self.name}' with 'fitted' takes no preset or params: "
                             "they are the ones its folder was fitted with")
        if self.fitted is not None and self.fit_data is not None:
            raise ValueError(f"generator '{self.name}' with 'fitted' takes no fit_data: its "
                             "folder was fitted already")
        return self

    @property
    def display(self) -> str:
        if self.fitted is not None and self.label is None:
            return f"{self.name}:fitted"
        return super().display


Millimetres = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class MatrixConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$")  # not only dots
    dataset: str = "phantom"  # a folder, or phantom[:SITE[:SUBJECTS]]
    split: SplitConfig = Field(default_factory=SplitConfig)
    test_sets: dict[str, str] = Field(default_factory=dict)  # name -> dataset, e.g. other sites
    target: str | None = None  # labelled target-domain set for the X>target strategies
    # false: test sets and the target may name their channel(s) differently when they have as
    # many, e.g. T1-trained models tested on FLAIR (brainSPADE 3.2, far out-of-distribution)
    match_channel_names: bool = True
    # The voxel size (mm, RAS+ axis order) every case is resampled to before anything trains
    # (bench.data.geometry): "median" is nnU-Net's rule on the training cases (the median; the
    # coarse axis of anisotropic data gets its 10th percentile), "as-stored" resamples nothing
    target_spacing: Literal["median", "as-stored"] | tuple[Millimetres, Millimetres,
                                                           Millimetres] = "median"
    generators: list[GeneratorSpec] = Field(default_factory=lambda: [GeneratorSpec(name="none")])
    counts: list[int] = Field(default_factory=lambda: [100], max_length=100)
    strategies: list[str] = Field(default_factory=lambda: ["real"])
    synthetic_fraction: float | None = Field(None, gt=0.0, lt=1.0)
    # named sets (bench.api.augment_sets); false/true are aliases of none/default
    augmentation: list[str | bool] = Field(default_factory=lambda: [False])
    segmenters: list[SegmenterSpec] = Field(default_factory=lambda: [SegmenterSpec(
        name="unet2d", preset="demo")])
    seeds: list[Seed] = Field(default_factory=lambda: [0], max_length=100)
    metrics: list[str] = Field(default_factory=lambda: ["dice", "precision", "recall",
                                                        "accuracy", "hd95"])
    nsd_tolerance: float | dict[str, float] = 1.0  # mm; per class name, "default" for others
    # HD95 (mm) of a structure missed or invented (Metrics Reloaded, BraTS); None: the diagonal
    # of each case's image in mm
    hd95_worst_mm: float | None = Field(None, gt=0.0)
    primary_metric: str = "dice"
    baseline: str | None = None  # a method label; default: the first real-only method
    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    device: str = "auto"
    sample_seed: Seed = 0
    lesion_fraction: float | None = Field(None, ge=0.0, le=1.0)
    fidelity: FidelityConfig = Field(default_factory=FidelityConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    learning_curve: LearningCurveConfig | None = None  # real data a synthetic method is worth

    @field_validator("counts")
    @classmethod
    def _positive_counts(cls, value):
        return _sizes(value, "synthetic counts must be")

    @field_validator("test_sets")
    @classmethod
    def _test_set_names(cls, value):
        from bench.run.names import test_set_name_problem

        problem = test_set_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("augmentation")
    @classmethod
    def _known_augmentation(cls, value):
        for item in value:
            known_set(item)
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value):
        from metrics.segmentation import METRICS

        unknown = [m for m in value if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric '{unknown[0]}' (known: {', '.join(METRICS)})")
        return value

    @field_validator("primary_metric")
    @classmethod
    def _measured_primary(cls, value, info):
        measured = info.data.get("metrics")
        if measured is not None and value not in measured:
            raise ValueError(f"'{value}' is not among the measured metrics "
                             f"({', '.join(measured)})")
        return value

    def key(self) -> str:
        """What the cells depend on; fidelity and report options do not change any cell."""
        unused = {"fidelity", "report"} | ({"nsd_tolerance"} if "nsd" not in self.metrics
                                           else set())
        unused |= {"learning_curve"} if self.learning_curve is None else set()
        unused |= {"hd95_worst_mm"} if self.hd95_worst_mm is None else set()  # older keys hold
        unused |= {"target_spacing"} if self.target_spacing == "median" else set()
        payload = json.dumps(self.model_dump(mode="json", exclude=unused), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_config(source: str | Path | dict, where: str | None = None) -> MatrixConfig:
    """A config from a YAML file, a preset name or a dict; errors name the field."""
    if isinstance(source, dict):
        data, where = source, where or "config"
    else:
        path = Path(source)
        data, where = load_yaml(path), where or str(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config fields")
    try:
        return MatrixConfig(**data)
    except pydantic.ValidationError as exc:
        raise ConfigError(f"{where}: {_describe(exc.errors()[0])}") from None


def load_yaml(path: Path):
    """The parsed contents of a config file; one line naming the file when it cannot be."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: is a folder, expected a config file (YAML)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the config as "
                          "UTF-8") from None
    try:
        return _bounded(yaml.safe_load(text), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{line}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None


def _bounded(value, where: str):
    """``value`` unless it holds more than MAX_NODES values once its aliases are expanded
    (which validation and ``--set`` do): counted without expanding, stopping at the bound."""
    seen, stack = 0, [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConfigError(f"{where}: more than {MAX_NODES} values once YAML aliases (*name) "
                              "are expanded; write the config out without them")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def load_preset(name: str) -> MatrixConfig:
    path = PRESETS / f"{name}.yaml"
    if not path.exists():
        near = difflib.get_close_matches(name, preset_names(), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"unknown preset '{name}' (known: {', '.join(preset_names())}){hint}")
    data = load_yaml(path)
    for entry in (data.get("generators") or []) if isinstance(data, dict) else []:
        # a preset's fits ship beside it (bench/presets/generators): relative to the presets
        if isinstance(entry, dict) and entry.get("fitted") \
                and not Path(entry["fitted"]).expanduser().is_absolute():
            entry["fitted"] = str(PRESETS / entry["fitted"])
    return load_config(data, where=f"preset '{name}'")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def _describe(error: dict) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        model = _model_at(error["loc"][:-1])
        near = difflib.get_close_matches(str(error["loc"][-1]), list(model.model_fields), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        return f"unknown field '{loc}'{hint}"
    if error["type"] == "missing":
        return f"field '{loc}' is required"
    return f"field '{loc}': {error['msg']}"


def _model_at(loc) -> type[BaseModel]:
    """The pydantic model that owns the field at ``loc`` (for suggestions)."""
    model: type[BaseModel] = MatrixConfig
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        inner = getattr(annotation, "__args__", (annotation,))
        found = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if not found:
            break
        model = found[0]
    return model
