"""The embedding seen in the Fourier basis over the p tokens.

A matrix W (n, p) has a token axis (the last); the real Fourier basis of R^p is

    k = 0              1 / sqrt(p)                                  (the constant)
    0 < k < p/2        sqrt(2/p) cos(2 pi k t / p), sqrt(2/p) sin(2 pi k t / p)
    k = p/2 (p even)   cos(pi t) / sqrt(p)

an orthonormal basis, so the energy of W at frequency k (cos and sin together),

    E_k = sum_rows (a_k^2 + b_k^2) = w_k |F_k|^2 / p,   F = rfft(W) along the token axis,
    w_k = 1 for k = 0 and k = p/2, else 2 (F_k and its conjugate F_{p-k}),

adds up to ||W||_F^2 (Parseval). The norm per frequency is sqrt(E_k), k = 0 .. p//2.

A grokked network's embedding uses a few "key frequencies" (Nanda et al. 2023), so its
spectrum is sparse. The spectral entropy measures that sparsity:

    P_k = E_k / sum_j E_j     over k = 1 .. p//2 (the constant k = 0 left out by default:
                              it carries no information on the token's value)
    H   = -sum_k P_k ln P_k   (nats; 0 for one frequency, ln(p//2) for a flat spectrum)

The normalisation is by energy (squared norm), so P_k is the fraction of ||W||^2 (less its
constant part) at frequency k.
"""
import numpy as np
from scipy.special import logsumexp


def frequencies(p):
    """The frequencies k = 0 .. p//2 of the real Fourier basis of R^p."""
    return np.arange(p // 2 + 1)


def fourier_basis(p):
    """The real orthonormal Fourier basis as rows (p, p) and each row's frequency (p,)."""
    t = np.arange(p)
    rows, freqs = [np.full(p, 1 / np.sqrt(p))], [0]
    for k in range(1, (p + 1) // 2):
        rows += [np.sqrt(2 / p) * np.cos(2 * np.pi * k * t / p), np.sqrt(2 / p) * np.sin(2 * np.pi * k * t / p)]
        freqs += [k, k]
    if p % 2 == 0:
        rows.append(np.cos(np.pi * t) / np.sqrt(p))
        freqs.append(p // 2)
    return np.array(rows), np.array(freqs)


def row_energy(W):
    """E[..., k]: energy of each row of W (..., p) at frequency k = 0..p//2, (..., p//2 + 1).
    Each row's energies add up to its squared norm."""
    W = np.asarray(W, dtype=np.float64)
    p = W.shape[-1]
    F = np.fft.rfft(W, axis=-1)  # (..., p//2 + 1)
    weight = np.full(p // 2 + 1, 2.0)  # (p//2 + 1,)
    weight[0] = 1.0
    if p % 2 == 0:
        weight[-1] = 1.0
    return weight * np.abs(F) ** 2 / p


def frequency_energy(W):
    """E_k of the whole matrix W (n, p): energies summed over rows, (p//2 + 1,)."""
    return row_energy(W).reshape(-1, np.shape(W)[-1] // 2 + 1).sum(axis=0)


def frequency_norms(W):
    """sqrt(E_k): the norm of W (n, p) per frequency k = 0..p//2, (p//2 + 1,)."""
    return np.sqrt(frequency_energy(W))


def spectrum(energy, include_dc=False):
    """The normalised spectrum P_k = E_k / sum E (..., K) from energies (..., p//2 + 1);
    K = p//2 (k = 1..p//2) unless include_dc. Rows with no energy there (below 1e-12 of
    the row's whole energy: FFT round-off of a constant row) give NaN."""
    energy = np.asarray(energy, dtype=np.float64)
    whole = energy.sum(axis=-1, keepdims=True)
    if not include_dc:
        energy = energy[..., 1:]
    total = energy.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total > 0) & (total > 1e-12 * whole), energy / total, np.nan)


def shannon_entropy(prob):
    """H = -sum_k P_k ln P_k over the last axis (nats), with 0 ln 0 = 0 (NaN stays NaN)."""
    prob = np.asarray(prob, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(prob > 0, prob * np.log(np.where(prob > 0, prob, 1.0)), 0.0)
    return np.where(np.isnan(prob).any(axis=-1), np.nan, -terms.sum(axis=-1))


def spectral_entropy(W, include_dc=False, per_row=False):
    """Shannon entropy of the normalised spectrum of W (n, p) (see the module docstring).

    per_row=False: one spectrum for the whole matrix (energies summed over rows).
    per_row=True: the mean over rows of each row's own entropy (rows with no energy skipped),
    e.g. over the hidden neurons of W_in @ W_E, whose inputs each pick their own frequency.
    """
    if per_row:
        h = shannon_entropy(spectrum(row_energy(W), include_dc))  # (n,)
        return float(np.nanmean(h)) if np.any(np.isfinite(h)) else float("nan")
    return float(shannon_entropy(spectrum(frequency_energy(W), include_dc)))


def reference_code_self_cross_entropy(W):
    """The reference code's Fourier "entropy" (vis_activate.py), offered by name only: it is
    a known slip of the reference code, a cross-entropy of the spectrum with itself used as logits.

    For each row n of W (n, p) (the reference passes the neuron inputs W_in @ W_E):
        A_n = |fft(W_n)| at k = 1 .. int(p/2) - 1 (constant and, p odd, the last frequency
              dropped), q_n = A_n / sum A_n (amplitudes, not energies; zero rows skipped)
        value = mean_n CE(logits=q_n, target=q_n) = mean_n [logsumexp(q_n) - sum_k q_nk^2]
    Because softmax(q) is nearly flat, this stays near ln(K); use spectral_entropy instead.
    """
    W = np.asarray(W, dtype=np.float64)
    amp = np.abs(np.fft.fft(W, axis=-1))[..., 1:W.shape[-1] // 2]  # (n, K)
    amp = amp[amp.sum(axis=-1) > 0]
    if amp.size == 0:
        return float("nan")
    q = amp / amp.sum(axis=-1, keepdims=True)  # (n, K)
    return float(np.mean(logsumexp(q, axis=-1) - (q ** 2).sum(axis=-1)))


# ----------------------------------------------------------------------------------------
# the mask seen in the Fourier basis

def kept_energy_fraction(W, mask):
    """E_k(W * mask) / E_k(W) per frequency k = 0..p//2, (p//2 + 1,): how much of each
    frequency of W (n, p) the mask keeps (NaN where W has no energy)."""
    kept, full = frequency_energy(np.asarray(W) * mask), frequency_energy(W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(full > 0, kept / full, np.nan)


def mask_spectrum(mask):
    """The normalised spectrum (k = 1..p//2) of the 0/1 mask (n, p) itself: is the pattern
    of kept weights along the token axis periodic? (Each row's mean, k = 0, is left out.)"""
    return spectrum(frequency_energy(np.asarray(mask, dtype=np.float64)), include_dc=False)
