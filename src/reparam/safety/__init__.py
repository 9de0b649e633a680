"""Turning the field's silent gradient failures into errors that say what to do."""

from reparam.safety._errors import GradientCheckError as GradientCheckError
from reparam.safety._errors import GradientCutError as GradientCutError
from reparam.safety._gradient_check import GradientCheck as GradientCheck
from reparam.safety._gradient_check import check_gradients as check_gradients
from reparam.safety._paths import check_cost_path as check_cost_path
from reparam.safety._paths import check_log_joint_path as check_log_joint_path
from reparam.safety._strict import deliberately_cut as deliberately_cut
from reparam.safety._strict import is_strict as is_strict
from reparam.safety._strict import strict as strict
