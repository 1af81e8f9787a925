import numpy as np
import torch

from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.conditioning import to_model_space
from reference_impl.ttm.config import load_architecture, variant
from reference_impl.ttm.flow import flow_to_rgb, flow_trajectory, optical_flow_video
from reference_impl.ttm.train import stage_batch
from tests.ttm_fixtures import moving_square_clip


def _translating_texture(frames: int = 4, dx: int = 2) -> np.ndarray:
    texture = np.random.default_rng(0).integers(0, 256, (48, 96), dtype=np.uint8)
    texture = np.repeat(np.repeat(texture, 2, 0), 2, 1)  # smooth enough for Farnebäck
    return np.stack([np.repeat(texture[:48, 20 - dx * t: 84 - dx * t, None], 3, -1)
                     for t in range(frames)])


def test_flow_of_a_translation_is_the_translation_and_frame_zero_is_still():
    flow = optical_flow_video(_translating_texture())
    assert not flow[0].any()
    interior = flow[1:, 8:-8, 8:-8]
    assert abs(np.median(interior[..., 0]) - 2.0) < 0.1
    assert abs(np.median(interior[..., 1])) < 0.1


def test_flow_colours_encode_direction_and_magnitude():
    flow = np.array([[[0.0, 0.0], [8.0, 0.0], [-8.0, 0.0], [0.0, 8.0], [4.0, 0.0]]])
    rgb = flow_to_rgb(flow, max_magnitude=8.0)[0]
    assert rgb[0].tolist() == [0, 0, 0]  # still = black, like a mask video's background
    assert rgb[1].tolist() == [255, 0, 0]  # right
    assert rgb[2].tolist() == [0, 255, 255]  # left
    assert rgb[3][1] == 255 and rgb[3][2] == 0 and 120 < rgb[3][0] < 135  # down: 90° hue
    assert rgb[4][0] in (127, 128) and rgb[4][1:].tolist() == [0, 0]  # half magnitude


def test_flow_variant_trains_stage_one_on_the_flow_video():
    torch.manual_seed(0)
    components = TTMComponents(load_architecture("unet-tiny"), variant("ttm-flow")).eval()
    clip = moving_square_clip("c", 2, frames=4, size=32)
    batch = stage_batch(components, "motion", [clip], [(False, False)])
    with torch.no_grad():
        expected = components.vae.encode(to_model_space(flow_trajectory(clip.video), "cpu"))
    assert torch.allclose(batch.latents, expected)
    video_batch = stage_batch(components, "video", [clip], [(False, False)])
    assert not video_batch.layout.present.any()  # unmasked layers: no boxes needed
