"""The tower shared by generators and critics: which image sizes work and the layer plan.

The reference builds the generator from a start map of `start = image_size / 2**k` (halving both
sides while both are > 4) with `ngf / 2 * 2**k` channels, then one stride-2 transposed conv per
doubling, halving the channels, and a final stride-2 transposed conv to the output channels.
The critic mirrors it. 48x80 -> start 3x5 with 512 channels at ngf=64; 64x64 -> 4x4; 96x160 -> 3x5.
"""

from __future__ import annotations

import dataclasses

from biogans_tf.conventions import parse_image_size


@dataclasses.dataclass(frozen=True)
class TowerPlan:
    """Layer plan of a generator tower (and, reversed, of the critic).

    Attributes:
      image_size: `(height, width)` of the images.
      start: `(height, width)` of the map produced from z by the initial transposed conv.
      channels: channels after the initial layer and after each pyramid layer, e.g.
        `(512, 256, 128, 64)` at 48x80 with ngf=64. The final layer maps `channels[-1]` to the
        output channels.
    """

    image_size: tuple[int, int]
    start: tuple[int, int]
    channels: tuple[int, ...]

    @property
    def n_pyramid(self) -> int:
        """Number of stride-2 hidden layers between the initial and the final layer."""
        return len(self.channels) - 1


def check_image_size(image_size) -> tuple[int, int]:
    """Validate `image_size` (a `(height, width)` pair, or `"48x80"`) for a tower; return it as a tuple.

    Raises:
      ValueError: naming `image_size` when it is not two ints >= 8.
    """
    h, w = parse_image_size(image_size, "image_size")
    if h < 8 or w < 8:
        raise ValueError(f"image_size: expected two ints >= 8, got {image_size!r}")
    return h, w


def tower_plan(image_size, width: int) -> TowerPlan:
    """Compute the reference tower for `image_size` and base width `width` (ngf or ndf).

    Args:
      image_size: `(height, width)`; both sides must stay even while they are halved down to
        the start map (whose smaller side is <= 4).
      width: ngf (generator) or ndf (critic); must be an even int >= 2.

    Returns:
      A `TowerPlan`. For the critic, its conv channels are `reversed(plan.channels)` with the
      first conv at `width` (see `critic_channels`).

    Raises:
      ValueError: naming `image_size` or the width when the size does not halve evenly.
    """
    h0, w0 = check_image_size(image_size)
    if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
        raise ValueError(f"ngf/ndf: expected an even int >= 2, got {width!r}")
    h, w, ch = h0, w0, width // 2
    while h > 4 and w > 4:
        if h % 2 or w % 2:
            raise ValueError(
                f"image_size: {h0}x{w0} does not halve evenly down to ~4 (reached {h}x{w}); "
                "use sides like 48x80, 64x64 or 96x160"
            )
        h, w, ch = h // 2, w // 2, ch * 2
    # The reference counts doublings on the height only; with both sides halved the same number
    # of times the width follows.
    channels = [ch]
    cur = h
    while cur < h0 // 2:
        ch //= 2
        channels.append(ch)
        cur *= 2
    if (h * 2 ** len(channels), w * 2 ** len(channels)) != (h0, w0):
        raise ValueError(f"image_size: {h0}x{w0} gives an inconsistent tower (start {h}x{w})")
    return TowerPlan(image_size=(h0, w0), start=(h, w), channels=tuple(channels))


def critic_channels(image_size, ndf: int) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Critic conv channels and the size of the map the final conv sees.

    Returns:
      `(channels, final_map)`: `channels[i]` is the output width of stride-2 conv `i`
      (`(64, 128, 256, 512)` at 48x80, ndf=64), `final_map` the `(h, w)` of the last feature map
      (3x5 at 48x80), covered by the final conv to one logit.
    """
    plan = tower_plan(image_size, ndf)
    chans = tuple(ndf * 2**i for i in range(plan.n_pyramid + 1))
    return chans, plan.start
