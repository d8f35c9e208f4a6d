"""Temporal smoothing of keypoint trajectories: a constant-velocity Kalman filter and
Rauch–Tung–Striebel smoother per keypoint and axis, each observation trusted by its
confidence.

Why not ``ensemble-kalman-smoother`` (made for this, and on the package index): it brings jax,
jaxlib, dynamax, optax, aniposelib and pandas, and asks numpy ≥ 2 — far more than a two-state
smoother per coordinate needs. This one is plain numpy, vectorised over keypoints and axes.

Model, per coordinate (frame step 1): state ``(p, v)``, ``p' = p + v``, ``v' = v + a`` with
white acceleration of standard deviation ``accel_px``; observation ``p + e`` with ``e`` of
standard deviation ``noise_px / sqrt(confidence)`` (a missing or non-finite observation is
skipped).
"""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_tracks"]


def smooth_tracks(xy: np.ndarray, confidence: np.ndarray | None = None, *, noise_px: float = 3.0, accel_px: float = 1.0,
                  min_confidence: float = 0.05) -> np.ndarray:
    """Smoothed trajectories.

    Args:
        xy: ``(T, K, 2)`` keypoints per frame (NaN where missing).
        confidence: ``(T, K)`` their confidences (None: all 1); clipped below at
            ``min_confidence``.
        noise_px: observation noise at confidence 1, in pixels.
        accel_px: process noise: the acceleration's standard deviation, pixels per frame².

    Returns:
        ``(T, K, 2)`` smoothed keypoints (every frame filled once a keypoint was seen).
    """
    z = np.asarray(xy, np.float64)
    t_len = z.shape[0]
    if t_len == 0:
        return z.copy()
    conf = np.ones(z.shape[:2]) if confidence is None else np.clip(np.nan_to_num(np.asarray(confidence, np.float64)), min_confidence, None)
    obs = z.reshape(t_len, -1)  # (T, S): S = K·2 series
    r = (noise_px**2 / np.repeat(conf, 2, axis=1))  # (T, S)
    s = obs.shape[1]
    f = np.array([[1.0, 1.0], [0.0, 1.0]])
    q = accel_px**2 * np.array([[0.25, 0.5], [0.5, 1.0]])
    m = np.zeros((t_len, s, 2))
    p = np.zeros((t_len, s, 2, 2))
    mp = np.zeros((t_len, s, 2))
    pp = np.zeros((t_len, s, 2, 2))
    first = np.where(np.isfinite(obs).any(0), np.argmax(np.isfinite(obs), axis=0), 0)
    x = np.stack([np.nan_to_num(obs[first, np.arange(s)]), np.zeros(s)], -1)
    cov = np.broadcast_to(np.diag([1e6, 1e3]), (s, 2, 2)).copy()
    for t in range(t_len):
        if t:
            x = x @ f.T
            cov = f @ cov @ f.T + q
        mp[t], pp[t] = x, cov
        seen = np.isfinite(obs[t])
        if seen.any():
            innov = np.where(seen, obs[t] - x[:, 0], 0.0)
            sv = cov[:, 0, 0] + r[t]
            k = cov[:, :, 0] / sv[:, None]  # (S, 2)
            k[~seen] = 0.0
            x = x + k * innov[:, None]
            cov = cov - k[:, :, None] * cov[:, None, 0, :]
        m[t], p[t] = x, cov
    out = m.copy()
    for t in range(t_len - 2, -1, -1):  # Rauch–Tung–Striebel
        g = p[t] @ f.T @ np.linalg.inv(pp[t + 1])
        out[t] = m[t] + np.einsum("sij,sj->si", g, out[t + 1] - mp[t + 1])
    res = out[..., 0].reshape(z.shape)
    never = ~np.isfinite(z).any(0)  # a keypoint never seen stays missing
    res[:, never] = np.nan
    return res
