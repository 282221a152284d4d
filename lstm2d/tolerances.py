"""Every parity tolerance in one place, with the reason it is what it is.

A tolerance is a bound on the max absolute difference between Keras' and torch's numbers for
the same weights and inputs: outputs, gradients, or per-step losses and weights after training.
Each was set from the errors measured on all three Keras backends, with the headroom stated.
The bugs parity tests exist to catch are orders of magnitude larger. Measured on small random models
(max abs output error when the layout fact is ignored): the HWC/CHW flatten order 2.56, symmetric
instead of TensorFlow ``same`` padding 3.22, padding counted in a ``same`` average 0.41, GRU gates in
torch's order 1.18, masked steps not carried 0.84. The negative controls in ``parity_tests`` (e.g.
``test_harness.py``, ``test_gradients.py``) remove such a rule and check that the harness fails.
"""

from __future__ import annotations

FP32_CPU_FORWARD_ATOL = 1e-5
"""fp32 forward on CPU. Both sides compute the same function, with different kernels
(oneDNN/Eigen/XLA vs ATen) that sum in different orders; over 100 LSTM steps the
rounding differences measured here stay around 1e-7..1e-6 for outputs of order 1.
1e-5 leaves 10x headroom and is still 10^4 below the smallest layout bug listed above."""

FP32_CPU_GRADIENT_ATOL = 1e-5
FP32_CPU_GRADIENT_RTOL = 1e-5
"""fp32 gradients on CPU, torch autograd against Keras (GradientTape, jax.grad, Keras' torch backend): the max
abs error of each gradient tensor must be at most ``1e-5 * (1 + max |Keras gradient|)``. Gradients are sums over
the batch and the timesteps, so their scale grows with both (up to ~13 in the parity specs); the relative part
keeps the bound meaningful across tensors. Measured over every parity spec both ways, the 20 masked cases and
all three backends: max abs 1.9e-6, and at most 6.6e-7 of ``1 + max |gradient|`` (15x headroom). A wrongly
mapped tensor (a merged bias' gradient in bias_ih only, an ignored flatten order) is off by the gradient itself."""

TRAINING_LOSS_RTOL = 1e-5
"""50 training steps, per-step losses: ``max |loss_torch - loss_keras| <= 1e-5 * max |loss_keras|``. Measured
over every trajectory spec, SGD and Adam, MSE and cross-entropy, all three backends: at most 1.8e-6 (5x
headroom). torch.optim.Adam in place of Keras' Adam changes the losses by 1.8e-5 to 3e-3; training both of
torch's recurrent biases by far more."""

TRAINING_WEIGHT_TOL = {"sgd": 1e-5, "adam": 1e-3}
"""50 training steps, final weights (BatchNorm's moving statistics included), per tensor: max abs error at most
``tol * (1 + max |Keras weight|)``, by optimizer. SGD (lr 0.05) carries the gradients' rounding differences
into the weights at their own size: measured at most 4.7e-7 (20x headroom). Adam (lr 0.005) normalises each
gradient element by its own running magnitude, so a relative rounding error delta in a small gradient element
(one summed from terms that cancel) becomes a weight difference of about lr * delta per step, whatever the
gradient's size: measured at most 2.9e-4 (seed-cnn-rgb on TensorFlow; 1e-6 to 9e-5 on the other models), 3.4x
headroom. torch.optim.Adam's epsilon placement moves weights by 3e-4 to 5e-2 relative to Keras, so the loss
check above, not this one, is what reliably tells the two optimizers apart. A parameter whose gradient is zero in
exact arithmetic (a bias right before a BatchNorm in training) is not reproducible under Adam at all: Adam turns
its rounding noise into steps of size lr; the trajectory specs avoid such parameters."""

BF16_FORWARD_ATOL = 2e-2
"""torch run under bf16 autocast (``torch_impl.runtime``, CPU or CUDA) against fp32 (torch or Keras).
bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per operation); matmuls accumulate
in fp32 but their inputs, the conv output and the LSTM's inputs are rounded. Measured on the
seed presets (100 steps, outputs of order 0.1-1): 0.3e-3..5e-3. 2e-2 leaves 4x headroom over
the worst seen and is still 20x below the smallest layout bug listed above (0.41). A bf16 exported model
(``torch_impl.export_program``: weights cast to bf16, not autocast) measured at most 9.0e-3 over every parity spec
(2.2x headroom)."""

FP16_FORWARD_ATOL = 1e-2
"""An fp16 exported model (weights, inputs and activations in fp16: 11 significant bits, relative rounding 2^-11 =
5e-4 per operation) against the fp32 torch model. Measured over every parity spec (presets, layer and masked specs, up
to 100 steps): at most 2.5e-3 for ``.pt2`` programs run by torch on the CPU, 1.5e-3 for ONNX files run by ONNX
Runtime's CPU provider (which computes convolutions and recurrent layers in fp32 between casts). 1e-2 leaves 4x
headroom and is 40x below the smallest layout bug listed above."""
