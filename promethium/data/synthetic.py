"""Event-based synthetic shot gathers (Ricker wavelets on hyperbolic and linear moveouts).

The generator is deterministic for a given seed and configuration; :class:`SyntheticGathers`
writes the gathers once to a Zarr cache keyed by a hash of the configuration, so reruns
with the same settings reuse the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from promethium.data.cache import CachedStoreSource, StoreContent
from promethium.data.store import store_attrs
from promethium.errors import ConfigError
from promethium.physics.wavelets import ricker


@dataclass
class SyntheticGathers(CachedStoreSource):
    """Configuration and cache of an event-based synthetic gather dataset.

    Each gather ``(n_traces, n_samples)`` holds ``n_events`` events with random type
    (hyperbolic reflection, linear/dipping event), apex time, velocity, amplitude and
    Ricker peak frequency. Offsets run from ``-x_half`` to ``+x_half`` around a random apex.

    Args:
        n_gathers: number of gathers.
        n_traces: traces per gather.
        n_samples: samples per trace.
        dt: time sampling (s).
        dx: trace spacing (m).
        n_events: range ``[min, max]`` of events per gather.
        freq_hz: range of Ricker peak frequencies (Hz).
        velocity: range of hyperbolic (RMS) velocities (m/s).
        slowness: range of linear-event slowness (s/m), sign drawn at random.
        linear_fraction: probability that an event is linear rather than hyperbolic.
        seed: generator seed.
        chunk_traces: chunk length along the trace axis (patch-aligned chunks).

    """

    n_gathers: int = 64
    n_traces: int = 64
    n_samples: int = 256
    dt: float = 0.004
    dx: float = 12.5
    n_events: Sequence[int] = field(default_factory=lambda: [4, 10])
    freq_hz: Sequence[float] = field(default_factory=lambda: [10.0, 30.0])
    velocity: Sequence[float] = field(default_factory=lambda: [1800.0, 4500.0])
    slowness: Sequence[float] = field(default_factory=lambda: [1.0 / 5000.0, 1.0 / 1666.7])
    linear_fraction: float = 0.3
    seed: int = 0
    chunk_traces: int | None = None
    kind = "synthetic_gathers"

    def __post_init__(self) -> None:
        for key in ("n_gathers", "n_traces", "n_samples"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ConfigError.for_parameter(key, value, "a positive integer")
        for key in ("dt", "dx"):
            if getattr(self, key) <= 0:
                raise ConfigError.for_parameter(key, getattr(self, key), "> 0")

    def generate(self) -> np.ndarray:
        """Return the gathers as a float32 array ``(n_gathers, n_traces, n_samples)``."""
        rng = np.random.default_rng(self.seed)
        return np.stack([self._gather(rng) for _ in range(self.n_gathers)]).astype(np.float32)

    def _gather(self, rng: np.random.Generator) -> np.ndarray:
        t = np.arange(self.n_samples) * self.dt  # (T,)
        x = (np.arange(self.n_traces) - rng.uniform(0, self.n_traces)) * self.dx  # (X,)
        n = int(rng.integers(self.n_events[0], self.n_events[1] + 1))
        t_end = t[-1]
        t0 = rng.uniform(0.05 * t_end, 0.85 * t_end, n)
        freq = rng.uniform(*self.freq_hz, n)
        amp = rng.uniform(0.3, 1.0, n) * rng.choice([-1.0, 1.0], n)
        linear = rng.random(n) < self.linear_fraction
        vel = rng.uniform(*self.velocity, n)
        slow = rng.uniform(*self.slowness, n) * rng.choice([-1.0, 1.0], n)
        hyper_t = np.sqrt(t0[:, None] ** 2 + (x[None, :] / vel[:, None]) ** 2)  # (E, X)
        linear_t = t0[:, None] + slow[:, None] * x[None, :]
        arrival = np.where(linear[:, None], linear_t, hyper_t)
        # spherical-divergence-like decay keeps amplitudes geophysically plausible
        decay = 1.0 / (1.0 + arrival / max(t_end, 1e-9))
        wave = ricker(t[None, None, :] - arrival[:, :, None], freq[:, None, None])  # (E, X, T)
        return np.einsum("e,ex,ext->xt", amp, decay, wave)

    def build(self) -> StoreContent:
        """The gathers, their attributes and patch-aligned chunks."""
        attrs = store_attrs(
            dt=self.dt,
            dx=[None, self.dx],
            axis_names=["gather", "trace", "time"],
            provenance={"generator": "promethium.data.synthetic.SyntheticGathers", **asdict(self)},
        )
        chunks = (1, min(self.chunk_traces or self.n_traces, self.n_traces), self.n_samples)
        return self.generate(), attrs, chunks, {}
