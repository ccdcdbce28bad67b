"""A tiny training loop the model tests share: every model trains through the same interface."""
import torch

from envs import WalkSampler


def train_tiny(model, worlds, *, steps: int, lr: float, batch: int = 16, window: int = 20, walk_length: int = 80,
               n_objects: int = 10, clip: float | None = None):
    """Train ``model`` for ``steps`` windows on walks in ``worlds``; returns it in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = WalkSampler(worlds, batch, window, walk_length, n_objects=n_objects, seed=0)
    state = model.initial_state(batch)
    for step in range(steps):
        window_batch = sampler.next_window()
        obs, action, new_world = (torch.as_tensor(x) for x in
                                  (window_batch.obs, window_batch.action, window_batch.new_world))
        out = model(obs, action, new_world, state)
        loss = model.losses(out, obs, step)["total"]
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        state = model.detach_state(out.state)
    return model.eval()
