"""Offline rendering and the small pieces every chart uses."""

from __future__ import annotations

import base64
import io

import altair as alt
import numpy as np
import torch


def enable_offline() -> None:
    """Render charts with JavaScript bundled in the packages (no CDN): works with no network."""
    alt.renderers.enable("jupyter", offline=True)
    alt.JupyterChart.enable_offline()  # chart widgets built by apps, before any chart is displayed
    alt.data_transformers.disable_max_rows()


def image_urls(images: torch.Tensor, *, scale: int = 3) -> list[str]:
    """PNG data URLs of ``(N, C, H, W)`` images, for chart tooltips and galleries.

    Each image is min–max scaled to [0, 255] on its own and enlarged ``scale`` times.
    """
    from PIL import Image

    urls = []
    for img in images.detach().cpu().float():
        arr = img.numpy()
        arr = (arr - arr.min()) / max(float(arr.max() - arr.min()), 1e-12)
        arr = (arr * 255).astype(np.uint8)
        pil = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
        buf = io.BytesIO()
        pil.save(buf, format="PNG")
        urls.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    return urls
