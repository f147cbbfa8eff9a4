"""Map the top-level folders onto subpackages of the one distribution ``simslab``.

The repository keeps devices/, plans/, analysis/, simulators/ and profiles/ at the top level
(where a lab looks for them); they install as ``simslab.devices`` and so on. setuptools needs
every subpackage listed, so they are discovered here rather than kept by hand in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {
    "simslab": "simslab",
    "simslab.devices": "devices",
    "simslab.plans": "plans",
    "simslab.analysis": "analysis",
    "simslab.simulators": "simulators",
    "simslab.profiles": "profiles",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for package, folder in ROOTS.items():
    package_dir[package] = folder
    packages.append(package)
    for sub in find_packages(folder):
        packages.append(f"{package}.{sub}")
        package_dir[f"{package}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
