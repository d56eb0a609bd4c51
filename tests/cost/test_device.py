from mv2search.cost.device import (
    DeviceProfile,
    available_profiles,
    device_fingerprint,
    fingerprint_key,
    load_device_profile,
)


def test_every_shipped_profile_loads():
    names = available_profiles()
    assert {"cpu_eager_1t", "cpu_ort_1t", "cuda"} <= set(names)
    for name in names:
        profile = load_device_profile(name)
        assert profile.name == name


def test_user_profile_without_code(tmp_path):
    path = tmp_path / "my_laptop.yaml"
    path.write_text("backend: onnxruntime\nthreads: 4\niters: 20\n")
    profile = load_device_profile(str(path))
    assert profile == DeviceProfile(name="my_laptop", backend="onnxruntime", threads=4, iters=20)


def test_fingerprint_key_changes_with_what_matters():
    profile = load_device_profile("cpu_ort_1t")
    base = fingerprint_key(device_fingerprint(profile, 256))
    assert base == fingerprint_key(device_fingerprint(profile, 256))
    assert base != fingerprint_key(device_fingerprint(profile, 224))
    two = DeviceProfile(name="cpu_ort_1t", backend="onnxruntime", threads=2)
    assert base != fingerprint_key(device_fingerprint(two, 256))
