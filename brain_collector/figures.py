"""What the page draws: probabilities, the ERP, the head and the traces (Plotly).

The ERP here is for the eyes only: a plain average of the recording's epochs computed
locally in numpy. The model never sees it; its features come from the transform service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brain_collector.quality import ChannelQuality, robust_sd
from brain_collector.stimuli import item_label
from brain_core.models import PhasePrediction, Recording

#: Sites where a P300 is largest; the ERP averages those the montage has.
CENTRO_PARIETAL = ("CP3", "CP4", "CP1", "CP2", "CPz", "PO3", "PO4", "POz", "P3", "P4", "Pz",
                   "P1", "P2", "Cz")
#: Epochs whose peak-to-peak exceeds this are left out of the ERP (blinks, pops), V.
REJECT_PTP_V = 150e-6
STATUS_COLOURS = {"good": "#2e9e4f", "noisy": "#e08a00", "flat": "#c0392b"}


def probability_figure(prediction: PhasePrediction):
    """Bar chart of the probability of each item; the top item stands out."""
    import plotly.graph_objects as go

    phase = prediction.phase.value
    labels = [item_label(phase, v) for v in prediction.items]
    colours = ["#d62728" if v == prediction.top_item else "#7f9fbf" for v in prediction.items]
    figure = go.Figure(go.Bar(x=labels, y=list(prediction.probabilities),
                              marker_color=colours,
                              hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    chance = 1.0 / len(prediction.items)
    figure.add_hline(y=chance, line_dash="dot", line_color="grey",
                     annotation_text="chance", annotation_position="top right")
    figure.update_layout(title=f"Probability of each {phase}", yaxis_tickformat=".0%",
                         xaxis_title=phase, yaxis_title="probability", height=340,
                         margin={"l": 50, "r": 20, "t": 50, "b": 40}, showlegend=False)
    figure.update_xaxes(type="category")
    return figure


@dataclass(frozen=True)
class Erp:
    """Average response to one item and to all the others.

    ``times`` in s from onset; ``target_uv`` and ``others_uv`` in µV, averaged over
    ``ch_names``; ``n_target``/``n_others`` epochs kept; ``n_rejected`` left out.
    """

    times: np.ndarray
    target_uv: np.ndarray
    others_uv: np.ndarray
    n_target: int
    n_others: int
    n_rejected: int
    ch_names: tuple[str, ...]


def compute_erp(recording: Recording, item: int, *, tmin: float = -0.2,
                tmax: float = 0.8, smooth_s: float = 0.04) -> Erp:
    """Baseline-corrected average of the epochs of ``item`` and of the other items.

    Parameters
    ----------
    recording : Recording
        Data in volts, (n_channels, n_times), with events.
    item : int
        The item whose epochs form ``target_uv``.
    tmin, tmax : float
        Epoch limits around each onset, s; the baseline is ``tmin`` to 0.
    smooth_s : float
        Width of the Hann window that smooths the averages (a gentle low-pass), s.
    """
    sfreq = recording.sfreq
    names = recording.ch_names
    picks = [i for i, n in enumerate(names) if n in CENTRO_PARIETAL] or list(range(len(names)))
    data = recording.data[picks].astype(float)
    # A channel far noisier than the rest would drown the others: leave it out.
    level = robust_sd(np.diff(data, axis=1))
    keep = level <= 5 * np.median(level) if len(picks) > 2 else np.ones(len(picks), bool)
    data, used = data[keep], tuple(names[i] for i, k in zip(picks, keep, strict=True) if k)
    start, stop = int(round(tmin * sfreq)), int(round(tmax * sfreq))
    times = np.arange(start, stop + 1) / sfreq
    target: list[np.ndarray] = []
    others: list[np.ndarray] = []
    rejected = 0
    for event in recording.events:
        centre = int(round(event.onset * sfreq))
        if centre + start < 0 or centre + stop + 1 > data.shape[1]:
            continue
        epoch = data[:, centre + start:centre + stop + 1]
        epoch = epoch - epoch[:, :-start or None].mean(axis=1, keepdims=True)
        if np.ptp(epoch, axis=1).max() > REJECT_PTP_V:
            rejected += 1
            continue
        (target if event.value == item else others).append(epoch.mean(axis=0))
    width = max(1, int(round(smooth_s * sfreq)))
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()

    def average(epochs: list[np.ndarray]) -> np.ndarray:
        if not epochs:
            return np.full(len(times), np.nan)
        return np.convolve(np.mean(epochs, axis=0), kernel, mode="same") * 1e6

    return Erp(times=times, target_uv=average(target), others_uv=average(others),
               n_target=len(target), n_others=len(others), n_rejected=rejected, ch_names=used)


def erp_figure(erp: Erp, phase: str, item: int):
    """The ERP of ``item`` against the other items."""
    import plotly.graph_objects as go

    label = item_label(phase, item)
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=erp.times * 1000, y=erp.others_uv, name=(
        f"other {phase}s ({erp.n_others} epochs)"), line={"color": "#7f9fbf"}))
    figure.add_trace(go.Scatter(x=erp.times * 1000, y=erp.target_uv, name=(
        f"{label} ({erp.n_target} epochs)"), line={"color": "#d62728", "width": 3}))
    figure.add_vrect(x0=300, x1=600, fillcolor="grey", opacity=0.1, line_width=0,
                     annotation_text="P300", annotation_position="top left")
    figure.add_vline(x=0, line_color="black", line_width=1)
    figure.update_layout(
        title=f"Average response to {label} vs the other {phase}s "
              f"({', '.join(erp.ch_names)})",
        xaxis_title="time from onset (ms)", yaxis_title="µV", height=340,
        margin={"l": 50, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25})
    return figure


def _layout_2d(ch_names: Sequence[str]) -> np.ndarray:
    """Positions on a flat head (nose up, radius 1 at the ears' level)."""
    try:
        from brain_sim.simulate import channel_positions

        positions = np.asarray(channel_positions(ch_names), dtype=float)
    except Exception:  # names MNE's template does not know: a ring
        angles = np.linspace(0, 2 * np.pi, len(ch_names), endpoint=False)
        return 0.6 * np.c_[np.sin(angles), np.cos(angles)]
    unit = positions / np.linalg.norm(positions, axis=1, keepdims=True)
    polar = np.arccos(np.clip(unit[:, 2], -1, 1)) / (np.pi / 2)
    azimuth = np.arctan2(unit[:, 1], unit[:, 0])
    return np.c_[polar * np.cos(azimuth), polar * np.sin(azimuth)]


def head_figure(quality: Sequence[ChannelQuality]):
    """A head seen from above with each electrode coloured good / noisy / flat."""
    import plotly.graph_objects as go

    names = [q.name for q in quality]
    xy = _layout_2d(names)
    figure = go.Figure()
    figure.add_shape(type="circle", x0=-1, y0=-1, x1=1, y1=1, line={"color": "#555"})
    figure.add_trace(go.Scatter(x=[-0.12, 0, 0.12], y=[0.99, 1.12, 0.99], mode="lines",
                                line={"color": "#555"}, hoverinfo="skip", showlegend=False))
    for side in (-1, 1):
        figure.add_shape(type="circle", x0=side * 1.0 - 0.06, x1=side * 1.0 + 0.06,
                         y0=-0.15, y1=0.15, line={"color": "#555"})
    for status, colour in STATUS_COLOURS.items():
        chosen = [i for i, q in enumerate(quality) if q.status == status]
        if not chosen:
            continue
        figure.add_trace(go.Scatter(
            x=xy[chosen, 0], y=xy[chosen, 1], mode="markers+text", name=status,
            marker={"size": 34, "color": colour, "line": {"color": "white", "width": 2}},
            text=[names[i] for i in chosen], textposition="middle center",
            textfont={"color": "white", "size": 11},
            customdata=[f"{quality[i].noise_uv:.1f} µV" for i in chosen],
            hovertemplate="%{text}: %{customdata}<extra></extra>"))
    figure.update_xaxes(visible=False, range=[-1.25, 1.25])
    figure.update_yaxes(visible=False, range=[-1.2, 1.25], scaleanchor="x", scaleratio=1)
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "y": -0.02}, plot_bgcolor="white",
                         title="Electrodes (robust SD, 1-40 Hz)")
    return figure


def traces_figure(data: np.ndarray, sfreq: float, ch_names: Sequence[str],
                  quality: Sequence[ChannelQuality] | None = None):
    """Band-passed traces (1-40 Hz), one per channel, stacked 100 µV apart."""
    import plotly.graph_objects as go

    from brain_collector.quality import bandpass

    filtered = bandpass(data, sfreq) * 1e6
    times = np.arange(filtered.shape[1]) / sfreq
    spacing = 100.0
    figure = go.Figure()
    for i, name in enumerate(ch_names):
        status = quality[i].status if quality else "good"
        figure.add_trace(go.Scatter(
            x=times, y=filtered[i] - i * spacing, name=name, mode="lines",
            line={"width": 1, "color": STATUS_COLOURS[status]}, showlegend=False))
    figure.update_yaxes(tickvals=[-i * spacing for i in range(len(ch_names))],
                        ticktext=list(ch_names), title=f"{spacing:g} µV between traces")
    figure.update_layout(height=60 + 45 * len(ch_names), xaxis_title="s",
                         margin={"l": 60, "r": 10, "t": 20, "b": 40})
    return figure
