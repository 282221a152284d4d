"""Pure-numpy weight converters between Keras and torch layouts.

One module per layer family (``conv``, ``dense``, ``recurrent``, ``batch_norm``, ``conv_lstm``, ``axes``) states its
layout rule once; ``layout`` holds the flatten-order fact. The whole-model mapping, built from the spec
and each kind's registry entry, is ``torch_impl.weight_table``.
"""
