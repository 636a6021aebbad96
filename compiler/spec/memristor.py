"""The ``memristor:`` section of a spec, which is also the options of the ``mnn`` target (no torch here).

Every key maps onto one argument of MemTorch (``memtorch-cpu`` 1.1.6): ``memtorch.mn.Module.patch_model`` for the
device and crossbar, ``memtorch.bh.nonideality.NonIdeality.apply_nonidealities`` for the non-idealities. The
defaults are MemTorch's tutorial settings: VTEAM devices, 1T1R cells, 128×128 tiles, inputs encoded as at most
0.3 V, an 8-bit linear ADC with overflow rate 0. A sketch::

    memristor:
      device: VTEAM
      r_on: 50          # ohms (LRS); null = the device model's default
      r_off: 1000       # ohms (HRS)
      adc_bits: 6
      nonidealities:
        device_faults: {lrs_proportion: 0.05, hrs_proportion: 0.05}
        finite_conductance_states: {states: 16}
      layers:
        fc1: {adc_bits: 8}   # per-layer overrides of any key above
      seed: 0

Units: resistances in ohms, voltages in volts, times in seconds. Non-idealities are applied in a fixed order
(:data:`NONIDEALITY_ORDER`), because MemTorch's finite-conductance-states model first re-reads every device's
conductance and so would silently undo faults or drift applied before it.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEVICE_MODELS: dict[str, dict[str, float]] = {
    # model -> its default (r_on, r_off) in ohms, as in memtorch/bh/memristor/<model>.py
    "VTEAM": {"r_on": 50.0, "r_off": 1000.0},
    "LinearIonDrift": {"r_on": 100.0, "r_off": 16e3},
    "Stanford_PKU": {"r_on": 542.0, "r_off": 218586.0},
    "Data_Driven": {"r_on": 1280.0, "r_off": 17e3},
}
"""The device models offered, with MemTorch's default resistances."""

DEVICE_PARAMS: dict[str, frozenset[str]] = {
    "VTEAM": frozenset({"time_series_resolution", "d", "k_on", "k_off", "alpha_on", "alpha_off", "v_on", "v_off",
                        "x_on", "x_off"}),
    "LinearIonDrift": frozenset({"time_series_resolution", "u_v", "d", "pos_write_threshold",
                                 "neg_write_threshold", "p"}),
    "Stanford_PKU": frozenset({"time_series_resolution", "gap_init", "g_0", "V_0", "I_0", "read_voltage", "T_init",
                               "R_th", "gamma_init", "beta", "t_ox", "F_min", "vel_0", "E_a", "a_0", "delta_g_init",
                               "model_switch", "T_crit", "T_smth"}),
    "Data_Driven": frozenset({"time_series_resolution", "A_p", "A_n", "t_p", "t_n", "k_p", "k_n", "eta", "a_p", "a_n",
                              "b_p", "b_n"}),
}
"""Further keyword parameters of each device model's constructor (besides ``r_on`` and ``r_off``)."""

NONIDEALITY_ORDER = ("finite_conductance_states", "device_faults", "endurance", "retention", "non_linear")
"""The order in which configured non-idealities are applied."""

MAX_TILE = 4096


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _unit(name: str):
    """A validator: a proportion in [0, 1]."""

    def check(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in 0..1 (a proportion of the devices), got {v}")
        return v

    return field_validator(name)(check)


class DeviceFaults(_Model):
    """Stuck devices (MemTorch ``DeviceFaults``): a random ``lrs_proportion`` of each crossbar's devices (tile
    padding included) is stuck at 1/r_on, ``hrs_proportion`` at 1/r_off; devices that fail to electroform
    (``electroform_proportion``) are stuck at 1/r_off too."""

    lrs_proportion: float = 0.0
    hrs_proportion: float = 0.0
    electroform_proportion: float = 0.0

    _lrs = _unit("lrs_proportion")
    _hrs = _unit("hrs_proportion")
    _ef = _unit("electroform_proportion")

    @model_validator(mode="after")
    def _total(self):
        if self.lrs_proportion + self.hrs_proportion + self.electroform_proportion > 1.0:
            raise ValueError("lrs_proportion + hrs_proportion + electroform_proportion must not exceed 1")
        return self


class FiniteConductanceStates(_Model):
    """Each device holds one of ``states`` conductances evenly spaced in [1/r_off, 1/r_on] (nearest state)."""

    states: int = 16

    @field_validator("states")
    @classmethod
    def _states(cls, v: int) -> int:
        if not 2 <= v <= 65536:
            raise ValueError(f"states must be 2..65536, got {v}")
        return v


class NonLinear(_Model):
    """Non-linear I–V characteristics (MemTorch ``NonLinear``). ``simulate: true`` simulates every device at every
    read (very slow: tiny layers only); otherwise MemTorch records one voltage sweep per device (``sweep_*``)."""

    simulate: bool = False
    sweep_duration: float = Field(1.0, gt=0.0)
    sweep_voltage_signal_amplitude: float = Field(1.0, gt=0.0)
    sweep_voltage_signal_frequency: float = Field(1.0, gt=0.0)


class Endurance(_Model):
    """Endurance after ``x`` SET–RESET cycles, MemTorch's empirical metal-oxide RRAM model (``sudden`` or
    ``gradual`` failure); ``p_lrs``/``p_hrs`` are its four fitting parameters; temperatures in kelvin, cell size in
    nm. The defaults are MemTorch's tutorial values."""

    x: float = Field(1e4, gt=0.0)
    operation_mode: Literal["sudden", "gradual"] = "sudden"
    p_lrs: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    stable_resistance_lrs: float = Field(100.0, gt=0.0)
    p_hrs: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    stable_resistance_hrs: float = Field(1000.0, gt=0.0)
    cell_size: float = Field(10.0, gt=0.0)
    temperature: float = Field(350.0, gt=0.0)
    temperature_threshold: float = Field(298.0, gt=0.0)


class Retention(_Model):
    """Conductance drift after ``time`` seconds (Boybat et al. 2018): ``G(t) = G(t0) · (t/t0)^(-drift_coefficient)``
    with ``t0 = initial_time``."""

    time: float = Field(1e3, gt=0.0)
    initial_time: float = Field(1.0, gt=0.0)
    drift_coefficient: float = 0.1

    _drift = _unit("drift_coefficient")

    @model_validator(mode="after")
    def _after_start(self):
        if self.time <= self.initial_time:
            raise ValueError(f"time ({self.time} s) must be later than initial_time ({self.initial_time} s)")
        return self


class NonIdealities(_Model):
    """The non-idealities to simulate, each with its parameters; absent ones are not simulated."""

    finite_conductance_states: FiniteConductanceStates | None = Field(
        None, description="each device holds one of `states` conductances (e.g. {states: 16})")
    device_faults: DeviceFaults | None = Field(None, description="stuck devices: lrs_proportion, hrs_proportion, "
                                               "electroform_proportion")
    endurance: Endurance | None = Field(None, description="conductance after x SET-RESET cycles (MemTorch's "
                                        "metal-oxide RRAM model)")
    retention: Retention | None = Field(None, description="conductance drift after `time` seconds")
    non_linear: NonLinear | None = Field(None, description="non-linear I-V characteristics (slow)")

    def enabled(self) -> list[tuple[str, _Model]]:
        """The configured non-idealities as ``(kind, parameters)`` in :data:`NONIDEALITY_ORDER`."""
        return [(k, getattr(self, k)) for k in NONIDEALITY_ORDER if getattr(self, k) is not None]


class CrossbarOptions(_Model):
    """Device, crossbar, input encoding, ADC and non-idealities of one layer (every key overridable per layer).

    Each field's ``description`` says what it is, once: ``snnc targets`` and the JSON Schema of specs show it.
    Resistances in ohms, voltages in volts.
    """

    device: Literal["VTEAM", "LinearIonDrift", "Stanford_PKU", "Data_Driven"] = Field(
        "VTEAM", description="the memristor model: VTEAM, LinearIonDrift, Stanford_PKU or Data_Driven")
    r_on: float | None = Field(None, description="low resistance state in ohms (null: the model's, VTEAM 50)")
    r_off: float | None = Field(None, description="high resistance state in ohms (null: the model's, VTEAM 1000)")
    device_params: dict[str, float] = Field({}, description="further constructor parameters of the device model "
                                            "(names checked against the model's, r_on and r_off excluded)")
    cell: Literal["1T1R", "1R"] = Field("1T1R", description="1T1R (a transistor per device: an ideal matrix "
                                        "product) or 1R (passive: line and source resistances are solved for; "
                                        "needs source_resistance, line_resistance and the memtorch engine)")
    source_resistance: float | None = Field(None, description="source resistance in ohms, for a 1R cell")
    line_resistance: float | None = Field(None, description="line resistance in ohms, for a 1R cell")
    tile_shape: tuple[int, int] | None = Field((128, 128), description="rows and columns of one crossbar tile "
                                                "(null: one crossbar per layer, no tiling)")
    scheme: Literal["double_column", "single_column"] = Field(
        "double_column", description="double_column (a positive and a negative crossbar) or single_column (one "
                                     "crossbar and a reference conductance)")
    mapping: Literal["naive"] = Field("naive", description="how weights become conductances: naive (|w| scaled "
                                      "linearly onto 1/r_off .. 1/r_on)")
    p_l: float | None = Field(None, description="if set, the proportion of weights kept (the rest are mapped to "
                              "r_off), MemTorch's p_l")
    scaling: Literal["naive", "restore"] = Field(
        "naive", description="how inputs become word-line voltages: naive (MemTorch's: scaled to "
                             "±max_input_voltage when they exceed it, and the read-out left scaled, so a layer's "
                             "output shrinks by max|x|/max_input_voltage relative to the tuning inputs) or restore "
                             "(the same voltages, the read-out multiplied back by that factor; fast engine only)")
    max_input_voltage: float | None = Field(0.3, description="the largest input voltage in volts (null: "
                                            "unbounded inputs)")
    adc_bits: int | None = Field(8, description="ADC resolution per tile column read-out (null: no ADC, an ideal "
                                 "read-out)")
    adc_overflow_rate: float = Field(0.0, description="the proportion of the largest read-outs allowed to clip "
                                     "when the ADC range is chosen")
    quantization: Literal["linear", "log"] = Field("linear", description="the ADC's levels: linear or log")
    nonidealities: NonIdealities = Field(NonIdealities(), description="what to simulate on top of the ideal "
                                         "devices: finite_conductance_states, device_faults, endurance, retention, "
                                         "non_linear, each with its parameters (none by default)")

    _overflow = _unit("adc_overflow_rate")

    @field_validator("r_on", "r_off", "source_resistance", "line_resistance")
    @classmethod
    def _positive_ohms(cls, v: float | None, info) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"{info.field_name} must be > 0 ohms, got {v}")
        return v

    @field_validator("tile_shape")
    @classmethod
    def _tile(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not all(1 <= s <= MAX_TILE for s in v):
            raise ValueError(f"tile_shape must be [rows, columns], each 1..{MAX_TILE}, got {list(v)}")
        return v

    @field_validator("p_l")
    @classmethod
    def _p_l(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v <= 1.0:
            raise ValueError(f"p_l must be in (0, 1] (the proportion of weights kept), got {v}")
        return v

    @field_validator("max_input_voltage")
    @classmethod
    def _voltage(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v <= 10.0:
            raise ValueError(f"max_input_voltage must be in (0, 10] volts, got {v}")
        return v

    @field_validator("adc_bits")
    @classmethod
    def _bits(cls, v: int | None) -> int | None:
        if v is not None and not 2 <= v <= 16:
            raise ValueError(f"must be 2..16 bits (or null for an ideal read-out), got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        defaults = DEVICE_MODELS[self.device]
        r_on = self.r_on if self.r_on is not None else defaults["r_on"]
        r_off = self.r_off if self.r_off is not None else defaults["r_off"]
        if not r_off > r_on:
            raise ValueError(f"r_off ({r_off:g} ohms) must be larger than r_on ({r_on:g} ohms)")
        unknown = sorted(set(self.device_params) - DEVICE_PARAMS[self.device] - {"r_on", "r_off"})
        if unknown:
            raise ValueError(f"device_params: {', '.join(unknown)} not parameters of {self.device}; known: "
                             + ", ".join(sorted(DEVICE_PARAMS[self.device])))
        if {"r_on", "r_off"} & set(self.device_params):
            raise ValueError("give r_on and r_off as keys of their own, not in device_params")
        if self.cell == "1R" and (self.source_resistance is None or self.line_resistance is None):
            raise ValueError("a passive (1R) crossbar needs source_resistance and line_resistance (ohms)")
        return self

    @property
    def resistances(self) -> tuple[float, float]:
        """``(r_on, r_off)`` in ohms, the model's defaults filled in."""
        d = DEVICE_MODELS[self.device]
        return (self.r_on if self.r_on is not None else d["r_on"], self.r_off if self.r_off is not None else d["r_off"])


class MemristorSpec(CrossbarOptions):
    """The ``memristor:`` section and the ``mnn`` target's options: :class:`CrossbarOptions` for every layer, plus
    per-layer overrides, the seed and how the network is run (each field's ``description`` says what it is)."""

    layers: dict[str, dict[str, Any]] = Field({}, description="per-layer overrides: layer name to the crossbar "
                                              "keys that differ there, e.g. {fc1: {adc_bits: 8}}")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds every random draw of the simulation (tuning "
                      "inputs, faults), so a run repeats exactly")
    tune: bool = Field(True, description="fit MemTorch's linear read-out correction (naive_tune) per layer after "
                       "programming")
    retune: bool = Field(False, description="tune again after the non-idealities (a calibration of the programmed "
                         "chip)")
    engine: Literal["fast", "memtorch"] = Field("fast", description="fast (snnc's batched crossbar arithmetic on "
                                                "MemTorch's programmed conductances) or memtorch (MemTorch's own "
                                                "layers, about 400 times slower than the float network)")

    @model_validator(mode="after")
    def _layer_overrides(self):
        for name, override in self.layers.items():
            if not isinstance(override, dict):
                raise ValueError(f"layers.{name} must be a mapping of crossbar keys")
            bad = sorted(set(override) - set(CrossbarOptions.model_fields))
            if bad:
                raise ValueError(f"layers.{name}: {', '.join(bad)} cannot be set per layer; per-layer keys: "
                                 + ", ".join(CrossbarOptions.model_fields))
            try:
                self.for_layer(name)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"layers.{name}.{where}: {first['msg'].removeprefix('Value error, ')}") from None
        return self

    def for_layer(self, name: str) -> CrossbarOptions:
        """The crossbar options of layer ``name``: these options with that layer's overrides applied."""
        base = {k: getattr(self, k) for k in CrossbarOptions.model_fields}
        base["nonidealities"] = self.nonidealities.model_dump()
        return CrossbarOptions.model_validate({**base, **self.layers.get(name, {})})
