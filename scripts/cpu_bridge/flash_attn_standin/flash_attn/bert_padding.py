"""The names ``openrlhf.models.ring_attn_utils`` imports; none of them works (see the package)."""

from flash_attn import unavailable

index_first_axis = unavailable("bert_padding.index_first_axis")
pad_input = unavailable("bert_padding.pad_input")
unpad_input = unavailable("bert_padding.unpad_input")
rearrange = unavailable("bert_padding.rearrange")
