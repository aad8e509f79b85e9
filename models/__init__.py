"""The networks, one file per family, and the registry that builds them by name.

    name              file                     paper
    sma_stn           models/sma_stn.py        SMA-STN (dynamic-image snippets, STMA, DE-Loss)
    micro_attention   models/micro_attention.py  Micro-Attention (pre-activation ResNet10)
    resnet10          models/micro_attention.py  the same without attention units
    strcn_a, strcn_g  models/strcn.py          STRCN appearance / geometric variants
    fr                models/fr.py             Feature Refinement (expression proposals)
    basic_inception   models/fr.py             FR's two-stream Inception baseline
    stanet            models/stanet.py         STANet (spatial + temporal attention)

Importing the package registers every family.
"""

from models.registry import ModelOutput, count_parameters, create_model, list_models, register
from models import fr, micro_attention, sma_stn, stanet, strcn  # noqa: F401,E402  (registration)

__all__ = ["ModelOutput", "count_parameters", "create_model", "list_models", "register"]
