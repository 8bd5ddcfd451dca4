"""Discrete generators du/dt = L u on a 1-D grid, their spectra, and per-step amplification factors.

Two generators are provided, each with a spectrum known to round-off:

* :func:`heat_generator` — the periodic second-order central Laplacian times D,
      (L u)_i = D (u_{i+1} - 2 u_i + u_{i-1}) / dx²,
  diagonalised by Fourier modes e^{i k x}, k = 2π j / (hi - lo), with the exact discrete symbol
      λ_k = -(4 D / dx²) sin²(k dx / 2)                                           (1)
  (substitute u_i = e^{i k x_i}: e^{ik dx} - 2 + e^{-ik dx} = -4 sin²(k dx/2)).  The continuous
  symbol is -D k²; (1) agrees to O(k⁴ dx²) and is (2/π)² = 0.405 times smaller at the Nyquist
  mode k dx = π.
* :func:`fokker_planck_generator` — the flux-form (cell-centred, finite-volume) central scheme for
  ∂p/∂t = -∂x(f p) + ½ ∂x(g² ∂x p) of an autonomous additive-noise 1-D SDE (OU, Heat, DoubleWell)
  with zero-flux or periodic boundaries.  Its spectrum is computed numerically (dense ``eig``,
  O(n³), cached); it is real when the scheme has detailed balance (cell Péclet number < 2).

A one-step time scheme acts on the eigenmode with eigenvalue μ by a factor G(μ dt).  Forward time
(∂u/∂t = L u, stepping t -> t + dt):
    explicit Euler   G = 1 + dt μ                  implicit Euler   G = 1 / (1 - dt μ)
    Crank–Nicolson   G = (1 + dt μ/2)/(1 - dt μ/2) exact (semi-discrete)  G = e^{dt μ}
Reversed time (the backward heat problem: τ = T - t, ∂u/∂τ = -L u, stepping t -> t - dt):
    explicit Euler   G = 1 - dt μ                  implicit Euler   G = 1 / (1 + dt μ)
    Crank–Nicolson   G = (1 - dt μ/2)/(1 + dt μ/2) exact (semi-discrete)  G = e^{-dt μ}
For μ = λ_k <= 0 every reversed factor exceeds 1 in modulus (as long as it is defined): the
backward problem amplifies mode k by |G|^m after m steps, and the top mode wins.  The reversed
implicit step is the exact inverse of the forward explicit step (and vice versa), which is why it
is singular where 1 + dt μ = 0, i.e. at r sin²(k dx/2) = 1 with r = 4 D dt / dx².
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
from scipy import sparse
from scipy.sparse import linalg as splinalg

from fplab._typing import FloatArray
from fplab._validate import check_choice, check_finite_array, check_positive
from fplab.grid import Grid
from fplab.sdes.base import SDE

__all__ = [
    "DIRECTIONS",
    "SCHEMES",
    "LinearGenerator",
    "Stepper",
    "apply_spectral",
    "continuous_symbol",
    "fokker_planck_generator",
    "heat_generator",
    "laplacian_symbol",
    "propagate_exact",
    "step_factor",
    "wavenumbers",
]

#: one-step time schemes whose factor G(μ dt) is given in the module docstring
SCHEMES = ("explicit", "implicit", "crank-nicolson", "exact")
#: "forward" integrates ∂u/∂t = L u from t to t + dt; "backward" reverses time (t -> t - dt)
DIRECTIONS = ("forward", "backward")
_BCS = ("periodic", "zero-flux")
# a reversed-time implicit factor 1/(1 + dt μ) with |1 + dt μ| below this is a singular system
_SINGULAR = 1e-12


def _check_1d_grid(grid: Any) -> Grid:
    if not isinstance(grid, Grid):
        msg = f"grid must be an fplab.Grid, got {type(grid).__name__}"
        raise TypeError(msg)
    if grid.ndim != 1:
        msg = f"the backward-heat study works on 1-D grids, got a {grid.ndim}-D grid {grid!r}"
        raise ValueError(msg)
    return grid


def wavenumbers(grid: Grid) -> FloatArray:
    """Angular wavenumbers k_j = 2π j / (hi - lo) in ``numpy.fft.fft`` order, shape (n,).

    The grid is read as one period of a periodic domain (its cells tile [lo, hi)).
    """
    g = _check_1d_grid(grid)
    dx = float(g.dx)  # type: ignore[arg-type]
    return np.asarray(2.0 * np.pi * np.fft.fftfreq(g.n[0], d=dx), dtype=np.float64)


def laplacian_symbol(grid: Grid, D: float) -> FloatArray:
    """Exact symbol λ_k = -(4 D / dx²) sin²(k dx / 2) of D × the periodic central Laplacian, eq. (1).

    Returns
    -------
    ndarray of float64, shape (n,), in ``numpy.fft.fft`` order (<= 0; λ_0 = 0).
    """
    D = check_positive(D, "D")
    dx = float(grid.dx)  # type: ignore[arg-type]
    k = wavenumbers(grid)
    return -(4.0 * D / dx**2) * np.sin(0.5 * k * dx) ** 2


def continuous_symbol(grid: Grid, D: float) -> FloatArray:
    """Symbol -D k² of D ∂²/∂x² on the same wavenumbers, shape (n,)."""
    D = check_positive(D, "D")
    return -D * wavenumbers(grid) ** 2


def step_factor(mu: Any, dt: float, scheme: str, direction: str = "backward") -> Any:
    """Per-step amplification G(μ dt) of a one-step scheme on the eigenmode with eigenvalue μ.

    Parameters
    ----------
    mu : array_like of float or complex
        Eigenvalues of the generator L (e.g. :func:`laplacian_symbol`).
    dt : float > 0
    scheme : {'explicit', 'implicit', 'crank-nicolson', 'exact'}
    direction : {'forward', 'backward'}
        'backward' is the reversed-time problem ∂u/∂τ = -L u (see the module docstring).

    Returns
    -------
    ndarray, shape of ``mu``: the factor by which one step multiplies that mode.

    Raises
    ------
    ValueError
        If an implicit/Crank–Nicolson denominator vanishes (a singular step matrix): for the
        reversed implicit step this is r sin²(k dx/2) = 1, r = 4 D dt / dx².
    """
    dt = check_positive(dt, "dt")
    check_choice(scheme, "scheme", SCHEMES)
    check_choice(direction, "direction", DIRECTIONS)
    z = np.asarray(mu) * (dt if direction == "forward" else -dt)
    if scheme == "explicit":
        return 1.0 + z
    if scheme == "exact":
        return np.exp(z)
    den = 1.0 - (z if scheme == "implicit" else 0.5 * z)
    if np.any(np.abs(den) < _SINGULAR):
        msg = (
            f"{scheme} step with dt={dt:g} in the {direction} direction is singular for an eigenvalue "
            f"of L (1 - dt·mu·{'1' if scheme == 'implicit' else '1/2'} = 0); change dt"
        )
        raise ValueError(msg)
    num = 1.0 if scheme == "implicit" else 1.0 + 0.5 * z
    return num / den


@dataclass(frozen=True)
class LinearGenerator:
    """A discrete generator du/dt = L u on a 1-D grid.

    Attributes
    ----------
    grid : Grid
    matrix : scipy.sparse.csr_matrix, shape (n, n)
    name : str            'heat-periodic' or 'fokker-planck-<bc>'
    D : float             diffusion coefficient ½ g² (heat: the D of ∂u/∂t = D Δu)
    symbol : ndarray of float64, shape (n,), or None
        Exact eigenvalues in FFT order when L is diagonalised by Fourier modes (periodic heat).
    """

    grid: Grid
    matrix: Any
    name: str
    D: float
    symbol: FloatArray | None = None
    _eig: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def n(self) -> int:
        """Number of cells."""
        return int(self.grid.n[0])

    @property
    def fourier(self) -> bool:
        """True when the eigenvectors are the Fourier modes (the periodic heat generator)."""
        return self.symbol is not None

    def eigen(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(μ, V, W): eigenvalues ascending-by-|μ| and right/left eigenvector matrices, L = V diag(μ) W.

        Computed once (dense ``numpy.linalg.eig``, O(n³)) and cached; W = V⁻¹.  Real arithmetic
        is used when L is similar to a symmetric matrix (a detailed-balance scheme): small
        imaginary parts from ``eig`` (|Im μ| <= 1e-8 |μ|_max) are dropped.
        """
        if not self._eig:
            a = self.matrix.toarray()
            mu, v = np.linalg.eig(a)
            if np.max(np.abs(mu.imag)) <= 1e-8 * max(np.max(np.abs(mu)), 1.0):
                mu, v = mu.real, v.real
            order = np.argsort(np.abs(mu), kind="stable")
            mu, v = mu[order], v[:, order]
            self._eig.extend([mu, v, np.linalg.inv(v)])
        mu, v, w = self._eig[:3]
        return mu, v, w

    def frobenius_weights(self) -> Any:
        """P with ‖V diag(g) W‖_F² = gᴴ P g, i.e. P = (VᴴV) ∘ (WWᴴ)ᵀ (cached; shape (n, n)).

        E‖V diag(g) W η‖² for white noise η equals this, so noise amplification is predicted in
        O(n²) per time instead of O(n³).
        """
        if len(self._eig) < 4:
            _, v, w = self.eigen()
            self._eig.append((v.conj().T @ v) * (w @ w.conj().T).T)
        return self._eig[3]

    def eigenvalues(self) -> Any:
        """Eigenvalues of L: the exact symbol (FFT order) for Fourier generators, else ``eigen()[0]``."""
        return self.symbol if self.symbol is not None else self.eigen()[0]


def heat_generator(grid: Grid, D: float) -> LinearGenerator:
    """D × the periodic second-order central Laplacian on ``grid`` (read as one period).

    Notes
    -----
    Second order in space; conserves mass (the rows sum to zero); symbol (1) of the module
    docstring, so ``step_factor(laplacian_symbol(grid, D), dt, scheme, direction)`` is the exact
    per-step amplification of every Fourier mode.
    """
    g = _check_1d_grid(grid)
    D = check_positive(D, "D")
    n = g.n[0]
    c = D / float(g.dx) ** 2  # type: ignore[arg-type]
    main = np.full(n, -2.0 * c)
    off = np.full(n - 1, c)
    a = sparse.diags([off, main, off], [-1, 0, 1], shape=(n, n), format="lil")
    a[0, n - 1] += c
    a[n - 1, 0] += c
    return LinearGenerator(g, a.tocsr(), "heat-periodic", D, laplacian_symbol(g, D))


def fokker_planck_generator(sde: SDE, grid: Grid, *, bc: str = "zero-flux") -> LinearGenerator:
    """Flux-form central Fokker–Planck generator of an autonomous, additive-noise 1-D SDE.

    dp_i/dt = -(F_{i+1/2} - F_{i-1/2}) / dx,
    F_{i+1/2} = f(x_{i+1/2}) (p_i + p_{i+1})/2 - Dd (p_{i+1} - p_i)/dx,   Dd = g²/2.

    Parameters
    ----------
    sde : SDE        1-D, autonomous, additive noise (OU, Heat, DoubleWell, CustomSDE)
    grid : Grid      1-D
    bc : {'zero-flux', 'periodic'}
        zero-flux closes the end faces (mass conserved); periodic joins them (the face between the
        last and first cell uses the drift at ``hi``).

    Notes
    -----
    Second order in space, conserves mass.  The cell Péclet number |f| dx / Dd must be < 2 on every
    face (``ValueError`` otherwise): then the scheme has detailed balance with a positive discrete
    stationary density, so L is similar to a symmetric negative semi-definite matrix with real
    eigenvalues <= 0.  With f = 0 and periodic bc
    this is exactly :func:`heat_generator` with D = Dd.
    """
    g = _check_1d_grid(grid)
    check_choice(bc, "bc", _BCS)
    if not isinstance(sde, SDE):
        msg = f"sde must be an fplab SDE, got {type(sde).__name__}"
        raise TypeError(msg)
    sde.check_dim(1, "grid")
    if not (sde.autonomous and sde.additive):
        msg = f"fokker_planck_generator needs an autonomous SDE with additive noise, got {sde!r}"
        raise ValueError(msg)
    n = g.n[0]
    dx = float(g.dx)  # type: ignore[arg-type]
    Dd = 0.5 * float(sde.g2(0.0))
    faces = g.edges[0][1:]  # face i+1/2 between cell i and i+1 (the last one is hi)
    f = sde.drift(faces.reshape(-1, 1), 0.0)[:, 0]
    peclet = float(np.max(np.abs(f))) * dx / Dd
    if peclet >= 2.0:
        # beyond cell Péclet 2 the central scheme loses detailed balance: complex spectrum,
        # negative stationary density, and no real per-mode amplification to measure
        msg = (
            f"cell Péclet number max|f| dx / (g²/2) = {peclet:.3g} >= 2 on this grid (dx={dx:.4g}); "
            f"the central Fokker–Planck generator needs < 2: use more cells or a smaller box"
        )
        raise ValueError(msg)
    rows, cols, vals = [], [], []
    n_faces = n if bc == "periodic" else n - 1
    for i in range(n_faces):
        j = (i + 1) % n
        # flux through face i+1/2 = a_l p_i + a_r p_j; it leaves cell i and enters cell j
        a_l = 0.5 * f[i] + Dd / dx
        a_r = 0.5 * f[i] - Dd / dx
        for row, sign in ((i, -1.0), (j, 1.0)):
            rows += [row, row]
            cols += [i, j]
            vals += [sign * a_l / dx, sign * a_r / dx]
    a = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    return LinearGenerator(g, a, f"fokker-planck-{bc}", Dd, None)


class Stepper:
    """One scheme's step u -> G(L dt) u in physical space (sparse mat-vec or a prefactored solve).

    The 'exact' scheme uses the FFT for Fourier generators and a dense ``scipy.linalg.expm``
    otherwise; the others never touch the spectrum, so their measured growth is an independent
    check of :func:`step_factor`.  ``u`` may be (n,) or (n, m) (m columns stepped together).
    """

    def __init__(self, gen: LinearGenerator, dt: float, scheme: str, direction: str) -> None:
        self.gen = gen
        self.dt = check_positive(dt, "dt")
        self.scheme = check_choice(scheme, "scheme", SCHEMES)
        self.direction = check_choice(direction, "direction", DIRECTIONS)
        s = dt if direction == "forward" else -dt
        eye = sparse.identity(gen.n, format="csc")
        L = gen.matrix.tocsc()
        # raises ValueError for a singular step before any factorisation is attempted
        self.factor = step_factor(gen.eigenvalues(), dt, scheme, direction)
        if scheme == "explicit":
            self._rhs = (eye + s * L).tocsr()
            self._lu = None
        elif scheme == "implicit":
            self._rhs = None
            self._lu = splinalg.splu(eye - s * L)
        elif scheme == "crank-nicolson":
            self._rhs = (eye + 0.5 * s * L).tocsr()
            self._lu = splinalg.splu(eye - 0.5 * s * L)
        elif not gen.fourier:
            # e^{±dt L} by Padé (scipy), not through the eigenvectors: V is ill-conditioned for
            # Fokker–Planck generators (its columns carry the stationary density's decay)
            self._rhs = scipy.linalg.expm(s * gen.matrix.toarray())
            self._lu = None

    def __call__(self, u: FloatArray) -> FloatArray:
        if self.scheme == "exact" and self.gen.fourier:
            return apply_spectral(self.gen, self.factor, u)
        v = self._rhs @ u if self._rhs is not None else u
        return self._lu.solve(np.ascontiguousarray(v)) if self._lu is not None else v


def apply_spectral(gen: LinearGenerator, factor: Any, u: FloatArray) -> FloatArray:
    """V diag(factor) W u: a function of L applied through its eigendecomposition; u (n,) or (n, m)."""
    if gen.fourier:
        fac = factor if u.ndim == 1 else np.asarray(factor)[:, None]
        return np.fft.ifft(fac * np.fft.fft(u, axis=0), axis=0).real
    _, v, w = gen.eigen()
    fac = factor if u.ndim == 1 else np.asarray(factor)[:, None]
    out = v @ (fac * (w @ u))
    return np.real(out) if np.iscomplexobj(out) else out


def propagate_exact(gen: LinearGenerator, u0: Any, t: float) -> FloatArray:
    """e^{t L} u0, the exact semi-discrete forward solution (t >= 0); u0 (n,) -> (n,).

    FFT for Fourier generators, ``scipy.sparse.linalg.expm_multiply`` otherwise.
    """
    u = check_finite_array(u0, "u0")
    if u.shape != (gen.n,):
        msg = f"u0 must have shape ({gen.n},), got {u.shape}"
        raise ValueError(msg)
    if t < 0 or not math.isfinite(t):
        msg = f"t must be finite and >= 0, got {t}"
        raise ValueError(msg)
    if gen.fourier:
        return apply_spectral(gen, np.exp(t * gen.eigenvalues()), u)
    return np.asarray(splinalg.expm_multiply(t * gen.matrix, u), dtype=np.float64)
