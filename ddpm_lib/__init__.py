"""ddpm_lib: Denoising Diffusion Probabilistic Models, read beside the paper.

Ho, Jain & Abbeel (2020), arXiv:2006.11239v2. Timesteps follow the paper:
1 ≤ t ≤ T, and a schedule's index 0 is the clean data (see
:mod:`ddpm_lib.diffusion.schedules`). Everything a chapter or a user needs is
importable from here; plotting lives in modules this package does not
import.
"""

from ddpm_lib.device import default_device
from ddpm_lib.diffusion import interop
from ddpm_lib.diffusion.forward import (
    Prediction,
    eps_from_prediction,
    eps_from_v,
    eps_from_x0,
    q_chain,
    q_sample,
    q_step,
    v_from_eps,
    x0_from_eps,
    x0_from_v,
)
from ddpm_lib.diffusion.guidance import guided_eps
from ddpm_lib.diffusion.objective import (
    BoundTerms,
    discretized_gaussian_log_likelihood,
    loss_simple,
    normal_kl,
    prior_bpd,
    sample_timesteps,
    training_target,
    vlb_bpd,
    vlb_term_bpd,
    vlb_term_from_eps_bpd,
)
from ddpm_lib.diffusion.posterior import (
    Variance,
    ddim_sigma,
    ddim_step,
    ddpm_step,
    mu_theta,
    q_posterior,
    reverse_variance,
)
from ddpm_lib.diffusion.sampling import (
    SampleStep,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    final_sample,
)
from ddpm_lib.diffusion.schedules import (
    Schedule,
    append_dims,
    coef_at,
    cosine_schedule,
    linear_schedule,
    quadratic_schedule,
    schedule_from_betas,
    sigmoid_schedule,
    timesteps,
)
from ddpm_lib.diffusion.toy import (
    GaussianMixture,
    eight_gaussians,
    swiss_roll,
    two_moons,
)
from ddpm_lib.io.checkpoint import (
    CheckpointError,
    export_model,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from ddpm_lib.io.data import (
    DataFileError,
    DataNotFoundError,
    DeviceDataset,
    Images,
    class_names,
    load_images,
)
from ddpm_lib.io.images import (
    image_grid,
    model_to_pixels,
    pixels_to_model,
    save_png,
)
from ddpm_lib.io.pretrained import load_pretrained, pretrained_path
from ddpm_lib.networks.embedding import timestep_embedding
from ddpm_lib.networks.unet import PRESETS, UNet, UNetConfig, unet_config
from ddpm_lib.pipeline import class_labels, eps_model, generate
from ddpm_lib.project import __version__
from ddpm_lib.training.config import TrainConfig
from ddpm_lib.training.ema import EMA
from ddpm_lib.training.trainer import Trainer, TrainingDiverged

__all__ = [
    "__version__",
    "append_dims",
    "coef_at",
    "BoundTerms",
    "CheckpointError",
    "class_labels",
    "cosine_schedule",
    "DataFileError",
    "DataNotFoundError",
    "ddim_sample",
    "ddim_sigma",
    "ddim_step",
    "ddim_timesteps",
    "ddpm_sample",
    "ddpm_step",
    "default_device",
    "DeviceDataset",
    "discretized_gaussian_log_likelihood",
    "eight_gaussians",
    "EMA",
    "eps_from_prediction",
    "eps_from_v",
    "eps_from_x0",
    "eps_model",
    "final_sample",
    "GaussianMixture",
    "generate",
    "guided_eps",
    "image_grid",
    "Images",
    "interop",
    "linear_schedule",
    "load_checkpoint",
    "class_names",
    "load_images",
    "export_model",
    "load_model",
    "load_pretrained",
    "pretrained_path",
    "loss_simple",
    "model_to_pixels",
    "mu_theta",
    "normal_kl",
    "pixels_to_model",
    "Prediction",
    "PRESETS",
    "prior_bpd",
    "q_chain",
    "q_posterior",
    "q_sample",
    "q_step",
    "quadratic_schedule",
    "reverse_variance",
    "sample_timesteps",
    "SampleStep",
    "save_checkpoint",
    "save_png",
    "Schedule",
    "schedule_from_betas",
    "sigmoid_schedule",
    "swiss_roll",
    "timestep_embedding",
    "timesteps",
    "TrainConfig",
    "Trainer",
    "training_target",
    "TrainingDiverged",
    "two_moons",
    "UNet",
    "unet_config",
    "UNetConfig",
    "v_from_eps",
    "Variance",
    "vlb_bpd",
    "vlb_term_bpd",
    "vlb_term_from_eps_bpd",
    "x0_from_eps",
    "x0_from_v",
]
