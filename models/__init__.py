"""The networks, one file per family, and the registry that builds them by name.

    name              file                       paper
    sma_stn           models/sma_stn.py          SMA-STN (dynamic-image snippets, STMA, DE-Loss)
    micro_attention   models/micro_attention.py  Micro-Attention (pre-activation ResNet10)
    resnet10          models/micro_attention.py  the same without attention units
    strcn_a, strcn_g  models/strcn.py            STRCN appearance / geometric variants
    fr                models/fr.py               Feature Refinement (expression proposals)
    basic_inception   models/fr.py               FR's two-stream Inception baseline
    stanet            models/stanet.py           STANet (spatial + temporal attention)

Importing the package imports no network file: `create_model(name)` and `card(name)` import the
one that registers `name` (models/registry.py).
"""

from models.registry import (Card, ModelOutput, builder, card, count_parameters, create_model,
                             example_shape, list_models, load_weights, module_of,
                             pipeline_networks, register)

__all__ = ["Card", "ModelOutput", "builder", "card", "count_parameters", "create_model",
           "example_shape", "list_models", "load_weights", "module_of", "pipeline_networks",
           "register"]
