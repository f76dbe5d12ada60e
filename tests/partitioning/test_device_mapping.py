"""Machine description and placement of parts on devices."""
import numpy as np
import pytest

from partitioning import (
    CommGraph, Machine, host_volumes, map_to_devices, naive_mapping, part_loads,
    traffic_matrix,
)


def paired_modules_traffic(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Traffic of 8 parts where parts p and p + 4 talk a lot and others barely.

    Modules 2j and 2j + 1 are strongly linked; module m is placed in part
    PERM[m], so in-order placement on 2-device hosts splits every linked pair.
    """
    rng = np.random.default_rng(seed)
    n_modules, size = 8, 40
    n = n_modules * size
    module = np.arange(n) // size
    same = module[:, None] == module[None, :]
    paired = (module[:, None] // 2) == (module[None, :] // 2)
    prob = np.where(same, 0.3, np.where(paired, 0.1, 0.0005))
    src, dst = np.nonzero(rng.random((n, n)) < prob)
    g = CommGraph.from_edges(n, src, dst, 1.0, 1)
    perm = np.array([0, 4, 1, 5, 2, 6, 3, 7])
    parts = perm[module]
    return traffic_matrix(g, parts, 8), part_loads(g, parts, 8)


def test_machine_defaults_and_layout():
    m = Machine(hosts=2, devices_per_host=3)
    assert m.n_devices == 6
    assert m.speeds().tolist() == [1.0] * 6
    assert m.host_of_device().tolist() == [0, 0, 0, 1, 1, 1]
    assert Machine(1, 2, speed=[1, 2]).speed == (1.0, 2.0)


def test_machine_parse():
    m = Machine.parse({"hosts": 2, "devices_per_host": 2, "speed": [1, 1, 2, 2]})
    assert m == Machine(2, 2, (1.0, 1.0, 2.0, 2.0))
    assert Machine.parse({"hosts": 1, "devices_per_host": 4}).speed is None


@pytest.mark.parametrize("spec, match", [
    ({"hosts": 0, "devices_per_host": 1}, r"Machine: hosts must be >= 1, got 0"),
    ({"hosts": 2, "devices_per_host": 0}, r"Machine: devices_per_host must be >= 1, got 0"),
    ({"hosts": 1.5, "devices_per_host": 1}, r"Machine: hosts must be an int >= 1, got 1.5"),
    ({"hosts": True, "devices_per_host": 1}, r"Machine: hosts must be an int >= 1, got True"),
    ({"hosts": 2, "devices_per_host": 2, "speed": [1, 1, 1]},
     r"Machine: speed must have hosts \* devices_per_host = 4 entries, got 3"),
    ({"hosts": 1, "devices_per_host": 2, "speed": [1, 0]},
     r"Machine: speed must be finite and > 0, got 0 at device 1"),
    ({"hosts": 1, "devices_per_host": 2, "speed": [float("nan"), 1]},
     r"Machine: speed must be finite and > 0, got nan at device 0"),
    ({"hosts": 1, "devices_per_host": 2, "speed": "fast"},
     r"Machine: speed must be a list of numbers, got 'fast'"),
    ({"hosts": 1, "devices_per_host": 1, "gpus": 4},
     r"Machine: unknown key 'gpus' \(known: hosts, devices_per_host, speed\)"),
    ({"devices_per_host": 1}, r"Machine: missing key 'hosts'"),
    ([1, 2], r"Machine: spec must be a mapping, got list"),
])
def test_machine_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        Machine.parse(spec)


def test_naive_mapping_rule():
    assert naive_mapping(3, Machine(2, 2)).tolist() == [0, 1, 2]  # fills host 0 first
    assert naive_mapping(8, Machine(2, 2)).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match=r"naive_mapping: nparts must be an int >= 1, got 0"):
        naive_mapping(0, Machine(1, 1))


def test_host_volumes_by_hand():
    traffic = np.array([[0.0, 1.0, 2.0],
                        [3.0, 0.0, 4.0],
                        [5.0, 6.0, 0.0]])
    m = Machine(2, 1)
    # Parts 0 and 1 on host 0, part 2 on host 1: inside 1 + 3, across 2 + 4 + 5 + 6.
    assert host_volumes(traffic, [0, 0, 1], m) == (17.0, 4.0)
    with pytest.raises(ValueError, match=r"host_volumes: device_of_part must be in \[0, 2\), "
                                         r"got 2 for part 1"):
        host_volumes(traffic, [0, 2, 1], m)


def test_mapping_keeps_talking_parts_on_one_host():
    traffic, loads = paired_modules_traffic()
    m = Machine(hosts=4, devices_per_host=2)
    mapped, naive = map_to_devices(traffic, loads, m), naive_mapping(8, m)
    inter_mapped, intra_mapped = host_volumes(traffic, mapped, m)
    inter_naive, intra_naive = host_volumes(traffic, naive, m)
    assert inter_mapped + intra_mapped == pytest.approx(inter_naive + intra_naive)
    assert inter_mapped * 3 < inter_naive
    # Each linked pair (p, p + 4) shares a host, and every part has its own device.
    host = mapped // 2
    assert all(host[p] == host[p + 4] for p in range(4))
    assert np.unique(mapped).shape[0] == 8


def test_fewer_parts_than_devices():
    traffic, loads = paired_modules_traffic()
    m = Machine(hosts=4, devices_per_host=4, speed=[1, 1, 2, 1] + [1] * 12)
    mapped = map_to_devices(traffic, loads, m)
    assert np.unique(mapped).shape[0] == 8  # one device per part, 8 devices idle
    # Filled hosts first: two full hosts, nothing crosses between linked pairs.
    assert np.unique(mapped // 4).shape[0] == 2
    # Heaviest part of host 0 sits on its fastest device (device 2).
    on_host0 = np.flatnonzero(mapped // 4 == 0)
    assert mapped[on_host0[np.argmax(loads[on_host0])]] == 2


def test_more_parts_than_devices_follows_speed():
    # 12 equal, silent parts on 2 hosts x 2 devices with speeds 1, 1, 2, 2:
    # host 1 is twice as fast, so it takes 8 parts, 4 per device.
    m = Machine(2, 2, speed=[1, 1, 2, 2])
    mapped = map_to_devices(np.zeros((12, 12)), np.ones(12), m)
    assert np.bincount(mapped, minlength=4).tolist() == [2, 2, 4, 4]


def test_more_parts_than_devices_keeps_traffic_local():
    traffic, loads = paired_modules_traffic()
    m = Machine(hosts=2, devices_per_host=2)
    mapped = map_to_devices(traffic, loads, m)
    assert np.bincount(mapped, minlength=4).min() >= 1  # no idle device
    inter_mapped, _ = host_volumes(traffic, mapped, m)
    inter_naive, _ = host_volumes(traffic, naive_mapping(8, m), m)
    assert inter_mapped * 3 < inter_naive


@pytest.mark.parametrize("traffic, loads, match", [
    (np.zeros((2, 3)), np.ones(2), r"map_to_devices: traffic must be a square nparts x nparts "
                                   r"matrix, got shape \(2, 3\)"),
    (-np.ones((2, 2)), np.ones(2), r"map_to_devices: traffic must be finite and >= 0"),
    (np.zeros((2, 2)), np.ones(3), r"map_to_devices: loads must be 2 finite values >= 0, "
                                   r"got shape \(3,\)"),
])
def test_map_to_devices_rejects_bad_input(traffic, loads, match):
    with pytest.raises(ValueError, match=match):
        map_to_devices(traffic, loads, Machine(1, 2))


def test_partly_used_machine_prefers_fast_hosts_and_devices():
    # Host 1 (speed 8) fills first; the 2 parts left use host 0's fastest devices
    # (device 1, speed 3, then device 3, speed 2).
    m = Machine(2, 4, speed=[1, 3, 1, 2, 2, 2, 2, 2])
    mapped = map_to_devices(np.zeros((6, 6)), np.ones(6), m)
    assert sorted(mapped.tolist()) == [1, 3, 4, 5, 6, 7]
