"""The name ``openrlhf.models.ring_attn_utils`` imports; it does not work (see the package)."""

from flash_attn import unavailable

all_gather = unavailable("utils.distributed.all_gather")
