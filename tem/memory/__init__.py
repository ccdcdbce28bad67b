"""TEM-t's hippocampal memories behind one interface (:class:`WindowMemory`): attention and SDM.

TEM's Hebbian memory is TEM's own (:mod:`tem.tem.hebbian`): it is read step by step inside TEM's
loop, not a window at a time, so it is not offered here.
"""
from tem.memory.attention import AttentionConfig, AttentionMemory
from tem.memory.base import MemoryOutput, MemoryState, WindowMemory
from tem.memory.sdm import SDMConfig, SDMMemory

MemoryConfig = AttentionConfig | SDMConfig
MEMORIES = {config.kind: config for config in (AttentionConfig, SDMConfig)}
"""The memory configs by name (``--memory``)."""


def make_memory(config: MemoryConfig, key_dim: int, value_dim: int) -> WindowMemory:
    """The memory ``config`` describes, for keys of ``key_dim`` and values of ``value_dim``."""
    if isinstance(config, AttentionConfig):
        return AttentionMemory(key_dim, value_dim, beta=config.beta, log_scale=config.log_scale, cap=config.cap)
    if isinstance(config, SDMConfig):
        return SDMMemory(key_dim, value_dim, n_neurons=config.neurons, activation=config.activation,
                         top_k=config.top_k, radius=config.radius, beta=config.beta,
                         learn_addresses=config.learn_addresses)
    raise ValueError(f"not a memory config: {config!r}; choose one of {', '.join(MEMORIES)}")


__all__ = ["MEMORIES", "AttentionConfig", "AttentionMemory", "MemoryConfig", "MemoryOutput", "MemoryState",
           "SDMConfig", "SDMMemory", "WindowMemory", "make_memory"]
