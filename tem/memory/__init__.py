"""Hippocampal memories behind one interface (:class:`Memory`)."""
from tem.memory.attention import AttentionMemory
from tem.memory.base import Memory, MemoryOutput, MemoryState
from tem.memory.hebbian import HebbianMemory
from tem.memory.sdm import SDMMemory

MEMORIES = ("attention", "sdm", "hebbian")


def make_memory(name: str, key_dim: int, value_dim: int, *, beta: float = 1.0, log_scale: bool = True,
                cap: int = 0, sdm_neurons: int = 4096, sdm_activation: str = "topk", sdm_top_k: int = 16,
                sdm_radius: float = 12.0, sdm_beta: float = 16.0, sdm_learn_addresses: bool = False) -> Memory:
    """Build the memory backend called ``name`` (``sdm_*``: see :class:`SDMMemory`)."""
    if name == "attention":
        return AttentionMemory(key_dim, value_dim, beta=beta, log_scale=log_scale, cap=cap)
    if name == "sdm":
        if cap:
            raise ValueError("memory_cap does not apply to the SDM memory (its size is fixed); leave it at 0")
        return SDMMemory(key_dim, value_dim, n_neurons=sdm_neurons, activation=sdm_activation, top_k=sdm_top_k,
                         radius=sdm_radius, beta=sdm_beta, learn_addresses=sdm_learn_addresses)
    if name == "hebbian":
        raise ValueError("the hebbian memory is TEM's (--model tem --memory hebbian); TEM-t reads attention or sdm")
    raise ValueError(f"unknown memory {name!r}; choose one of {', '.join(MEMORIES)}")


__all__ = ["MEMORIES", "AttentionMemory", "HebbianMemory", "Memory", "MemoryOutput", "MemoryState", "SDMMemory", "make_memory"]
