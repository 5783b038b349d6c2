"""The targets' device policy: draws are made on the generator's device; a CPU generator
gives the same sample on every machine; densities and mode assignment follow ``x``.

Under ``pytest --device cuda`` the `generator` fixture is on the GPU, so this checks the
policy there; on the CPU it checks that nothing else changed.
"""

from __future__ import annotations

import pytest
import torch

from genmodels.targets import TARGETS, get_target

SAMPLED = [name for name in TARGETS if get_target(name).has_samples]


@pytest.mark.parametrize("name", SAMPLED)
def test_draws_follow_the_generator(name, generator, device):
    target = get_target(name)
    x = target.sample(16, generator)
    assert x.device.type == device.type and x.shape == (16, *target.event_shape)
    on_cpu = target.sample(16, torch.Generator().manual_seed(0))
    assert on_cpu.device.type == "cpu"
    again = target.sample(16, torch.Generator().manual_seed(0))
    assert torch.equal(on_cpu, again)  # the same CPU draw, whatever the default device
    if target.has_log_prob:
        assert target.log_prob(x).device == x.device
    if target.modes is not None:
        assert target.modes.assign(x).device == x.device
        assert target.modes.assign(on_cpu).device.type == "cpu"
    if target.num_classes:
        images, labels = target.sample_labelled(8, generator)
        assert images.device == labels.device == x.device


def test_the_test_set_is_on_the_default_device(device):
    assert get_target("banana").test_set(8).device.type == device.type
