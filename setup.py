"""Only what pyproject.toml cannot say: ship the top-level resources/ folder inside the wheel
as the package data of `studio.resources`, where studio.core.resources finds it at run time."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["studio", "studio.*"]) + ["studio.resources"],
    package_dir={"studio.resources": "resources"},
    package_data={"studio.resources": ["**/*"]},
    include_package_data=True,
)
