"""Hippocampal memories behind one interface (:class:`Memory`)."""
from tem.memory.attention import AttentionMemory
from tem.memory.base import Memory, MemoryOutput, MemoryState

MEMORIES = ("attention",)


def make_memory(name: str, key_dim: int, value_dim: int, *, beta: float = 1.0, log_scale: bool = True,
                cap: int = 0) -> Memory:
    """Build the memory backend called ``name``."""
    if name == "attention":
        return AttentionMemory(key_dim, value_dim, beta=beta, log_scale=log_scale, cap=cap)
    raise ValueError(f"unknown memory {name!r}; choose one of {', '.join(MEMORIES)}")


__all__ = ["MEMORIES", "AttentionMemory", "Memory", "MemoryOutput", "MemoryState", "make_memory"]
