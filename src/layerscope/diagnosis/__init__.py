"""Diagnose feature maps: dead / uniform / noisy / saturated / non-finite channels, input mistakes, verdicts.

>>> import torch, torch.nn as nn
>>> result = diagnose(nn.Conv2d(3, 4, 3), torch.rand(2, 3, 16, 16))  # pixel noise; preprocessing unknown
>>> [f.code for f in result.input_findings], result.tendency.label
(['input.noise', 'input.unknown'], 'unclear')
"""

from .api import DiagnosisStream, diagnose
from .expr import FIELDS, Gate, parse_gate
from .inputs import InputStats, check_inputs, swap_confidence
from .metrics import activation_bounds
from .options import DiagnoseOptions
from .result import CAVEAT, Diagnosis, Finding, LayerDiagnosis, Tendency
from .thresholds import Thresholds

__all__ = [
    "diagnose",
    "DiagnosisStream",
    "DiagnoseOptions",
    "Diagnosis",
    "LayerDiagnosis",
    "Finding",
    "Tendency",
    "Thresholds",
    "InputStats",
    "check_inputs",
    "swap_confidence",
    "activation_bounds",
    "parse_gate",
    "Gate",
    "FIELDS",
    "CAVEAT",
]
