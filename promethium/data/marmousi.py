"""Physics-modelled data on the Marmousi velocity model (bundled, see assets/PROVENANCE.md).

* :class:`MarmousiGathers`: surface shot gathers ``(shot, receiver, time)``.
* :class:`MarmousiWavefields`: wavefield volumes ``u(z, x, t)`` on model crops, each with
  its velocity crop stored alongside (array ``velocity``), for the physics loss.

Both model with :func:`promethium.physics.modelling.model_shots` (the loss's stencils),
write once into a Zarr cache keyed by their configuration, and store the velocity.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources

import numpy as np

from promethium.data.cache import CachedStoreSource, StoreContent
from promethium.data.progress import progress
from promethium.data.store import store_attrs
from promethium.errors import ConfigError
from promethium.physics.modelling import cfl_limit, model_shots

MARMOUSI_DX = 10.0  # m, both axes of the bundled model


@cache
def load_marmousi() -> np.ndarray:
    """The Marmousi P-wave velocity model ``(351, 1000)`` (depth, distance), 10 m, m/s."""
    with resources.files("promethium.data").joinpath("assets/marmousi_vp_10m.npz").open("rb") as fh:
        return np.load(fh)["vp"].astype(np.float32)


def _stable_step(record_dt: float, dx: float, vmax: float, order: int) -> tuple[float, int]:
    """Modelling step dividing ``record_dt`` and within 90% of the CFL limit."""
    substeps = max(1, math.ceil(record_dt / (0.9 * cfl_limit(order) * dx / vmax)))
    return record_dt / substeps, substeps


@dataclass
class MarmousiGathers(CachedStoreSource):
    """Surface shot gathers modelled on the (decimated) Marmousi model.

    Args:
        n_shots: shots evenly spread along the surface.
        decimate: keep every ``decimate``-th cell of the 10 m model (grid = 10 m * decimate).
        receiver_step: receiver spacing in grid cells (receivers span the whole line).
        n_samples: recorded samples per trace.
        dt: recording sample interval (s); modelling substeps it for stability.
        freq_hz: Ricker peak frequency.
        order: spatial stencil order.
        free_surface: pressure-release top boundary (adds surface multiples).
        shots_per_batch: shots modelled together (memory/speed trade-off).
        max_offset_m: record a split spread of receivers within this offset of each shot
            (shots then lie where the whole spread fits on the model); ``None`` records
            the whole line, most of which the wavefield has not reached in short records.

    The gathers are the modelled pressure as recorded, without gain: as in a field
    record, the direct wave holds almost all the energy and reflections fade with time.
    Its unit is the RMS of the whole store (``attrs["normalisation"]`` is that RMS in
    the modeller's units, about 1e-7 for a unit Ricker source), one constant for all
    shots, so relative amplitudes are as recorded. Recipes train on them through the amplitude
    contract ``normalize=gained`` (a ``t^2`` gain and one RMS scale per shot), which is
    saved with the model and applied to any survey it is used on.
    """

    kind = "marmousi_gathers"
    n_shots: int = 16
    decimate: int = 2
    receiver_step: int = 2
    n_samples: int = 512
    dt: float = 0.004
    freq_hz: float = 8.0  # >= 3.5 cells per shortest wavelength on the 20 m grid
    order: int = 8
    free_surface: bool = False
    shots_per_batch: int = 8
    max_offset_m: float | None = None

    def _spread(self, nx: int, dx: float) -> tuple[np.ndarray, np.ndarray]:
        """Shot columns and receiver column offsets relative to each shot."""
        if self.max_offset_m is None:
            return np.linspace(5, nx - 6, self.n_shots).round().astype(int), np.arange(nx)
        half = int(round(self.max_offset_m / dx)) // self.receiver_step * self.receiver_step
        if half < self.receiver_step or 2 * half + 11 > nx:
            raise ConfigError.for_parameter(
                "source.max_offset_m",
                self.max_offset_m,
                f"between {self.receiver_step * dx:g} and {(nx - 11) // 2 * dx:g} m on this "
                f"{nx * dx:g} m line",
            )
        xs = np.linspace(5 + half, nx - 6 - half, self.n_shots).round().astype(int)
        return xs, np.arange(-half, half + 1)

    def build(self) -> StoreContent:
        if self.n_shots < 1 or self.decimate < 1 or self.receiver_step < 1:
            raise ConfigError.about("source", "n_shots, decimate and receiver_step must be >= 1")
        vel = load_marmousi()[:: self.decimate, :: self.decimate]
        dx = MARMOUSI_DX * self.decimate
        step, sub = _stable_step(self.dt, dx, float(vel.max()), self.order)
        xs, offsets = self._spread(vel.shape[1], dx)
        spread = self.max_offset_m is not None
        gathers = []
        batches = range(0, self.n_shots, self.shots_per_batch)
        for i in progress(batches, self.n_shots, "Modelling shots", self.shots_per_batch):
            shots = [(1, int(x)) for x in xs[i : i + self.shots_per_batch]]
            res = model_shots(
                vel,
                dx,
                step,
                self.n_samples * sub,
                shots,
                self.freq_hz,
                receiver_depth=1,
                order=self.order,
                free_surface=self.free_surface,
            )
            for x, gather in zip(xs[i : i + self.shots_per_batch], res.gathers, strict=True):
                columns = x + offsets if spread else offsets
                gathers.append(gather[columns[:: self.receiver_step], ::sub])
        data = np.stack(gathers)
        scale = float(np.sqrt(np.mean(np.square(data, dtype=np.float64)))) or 1.0
        data /= scale
        attrs = store_attrs(
            dt=self.dt,
            dx=[None, dx * self.receiver_step],
            axis_names=["shot", "receiver", "time"],
            data_unit="pressure in units of the store's RMS, no gain",
            normalisation=scale,
            provenance={
                "generator": "promethium.data.marmousi.MarmousiGathers",
                "velocity_model": "Marmousi (Versteeg 1994)",
                **asdict(self),
            },
            source_x_m=(xs * dx).tolist(),
            receiver_offsets_m=(offsets[:: self.receiver_step] * dx).tolist() if spread else None,
        )
        chunks = (1, data.shape[1], self.n_samples)
        return data.astype(np.float32), attrs, chunks, {"velocity": vel}


@dataclass
class MarmousiWavefields(CachedStoreSource):
    """Wavefield volumes ``u(z, x, t)`` on random Marmousi crops, with their velocity.

    Each item is one shot inside one crop of ``nz x nx`` cells (the crop is the whole
    modelling domain, surrounded by absorbing sponges); snapshots start after the source
    wavelet has ended, every modelling step, so the stored field satisfies the discrete
    wave equation with the stored ``velocity`` (array ``(item, z, x)``).

    Args:
        n_items: crops (one shot each).
        nz: crop depth in cells.
        nx: crop width in cells.
        n_steps: snapshots per item.
        decimate: keep every ``decimate``-th cell of the 10 m model.
        freq_hz: Ricker peak frequency.
        order: spatial stencil order.
        seed: crop and shot positions.

    """

    kind = "marmousi_wavefields"
    n_items: int = 24
    nz: int = 48
    nx: int = 48
    n_steps: int = 64
    decimate: int = 2
    freq_hz: float = 15.0
    order: int = 4
    seed: int = 0

    def build(self) -> StoreContent:
        full = load_marmousi()[:: self.decimate, :: self.decimate]
        if self.nz > full.shape[0] or self.nx > full.shape[1]:
            raise ConfigError.about("source.nz", f"nz, nx: crop larger than the model {full.shape}")
        dx = MARMOUSI_DX * self.decimate
        dt = 0.9 * cfl_limit(self.order) * dx / float(full.max())
        start = int(math.ceil(2.4 / self.freq_hz / dt)) + 8
        rng = np.random.default_rng(self.seed)
        fields, vels = [], []
        for _ in progress(range(self.n_items), self.n_items, "Modelling wavefields"):
            z0 = int(rng.integers(0, full.shape[0] - self.nz + 1))
            x0 = int(rng.integers(0, full.shape[1] - self.nx + 1))
            vel = full[z0 : z0 + self.nz, x0 : x0 + self.nx]
            src = (int(rng.integers(2, self.nz - 2)), int(rng.integers(2, self.nx - 2)))
            res = model_shots(
                vel,
                dx,
                dt,
                start + self.n_steps,
                [src],
                self.freq_hz,
                order=self.order,
                snapshot_every=1,
                snapshot_start=start,
            )
            assert res.snapshots is not None  # snapshot_every was set
            u = res.snapshots[0]
            fields.append(u / np.abs(u).max())
            vels.append(vel)
        attrs = store_attrs(
            dt=dt,
            dx=[None, dx, dx],
            axis_names=["item", "z", "x", "time"],
            data_unit="normalised pressure",
            provenance={
                "generator": "promethium.data.marmousi.MarmousiWavefields",
                "velocity_model": "Marmousi (Versteeg 1994)",
                **asdict(self),
            },
        )
        data = np.stack(fields)
        return data, attrs, (1, *data.shape[1:]), {"velocity": np.stack(vels)}
