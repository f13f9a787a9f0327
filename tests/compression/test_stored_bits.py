"""Bits per stored weight, as the best-checkpoint ranking counts them."""
import torch
from torch import nn

from compressor.compression.stored_bits import mean_stored_bits, value_bits
from compressor.compression.training.run import best_rank

GEN = torch.Generator().manual_seed(0)


def test_each_kind_of_weight_gets_the_width_of_its_smallest_codes():
    book = torch.randn(16, generator=GEN)
    shared = book[torch.randint(0, 16, (64, 32, 3, 3), generator=GEN)]
    shared[torch.rand(shared.shape, generator=GEN) < 0.9] = 0.0  # zeros are positions, not a 17th value
    binary = torch.randn(64, 32, generator=GEN).sign() * (torch.rand(64, 1, generator=GEN) + 0.1)
    four_bit = torch.randint(-8, 8, (64, 128), generator=GEN).float() * (torch.rand(64, 1, generator=GEN) + 0.1)
    assert value_bits(shared) == 4 and value_bits(binary) == 1 and value_bits(four_bit) == 4
    assert value_bits(torch.randn(64, 32, generator=GEN)) == 32
    assert value_bits(torch.zeros(8, 8)) == 0


def test_a_large_layer_is_read_as_the_packer_reads_it():
    assert value_bits(torch.randn(512, 256, generator=GEN)) == 32  # a sample of it is all distinct: raw
    book = torch.randn(16, generator=GEN)
    assert value_bits(book[torch.randint(0, 16, (512, 256), generator=GEN)]) == 4
    assert 0 < value_bits(torch.randn(512, 256, generator=GEN).bfloat16()) <= 16  # read too (as bit patterns)


def test_the_mean_is_weighted_by_each_layers_non_zeros():
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 16))
    with torch.no_grad():
        model[0].weight.copy_(torch.randn(64, 64, generator=GEN).sign())  # 2 values: 1 bit, 4096 of them
        model[1].weight.normal_(generator=GEN)  # FP32, 1024 of them
    assert mean_stored_bits(model) == (4096 * 1 + 1024 * 32) / 5120


def test_at_the_same_size_a_shared_or_quantized_model_ranks_above_a_more_accurate_fp32_one():
    fp32, shared = best_rank(0.1, 1000, 32.0, 91.0), best_rank(0.1, 1000, 4.0, 90.0)
    assert shared > fp32
    assert best_rank(0.09, 1000, 32.0, 80.0) > shared  # fewer non-zeros still come first
    assert best_rank(0.1, 1000, 4.0, 90.5) > shared  # then, at the same bits, top-1


def test_a_few_thousandths_of_a_bit_between_epochs_do_not_outrank_accuracy():
    """A binarized model's 8-bit first layer uses one code more in a later epoch: still the same precision."""
    assert best_rank(0.1, 1000, 1.176, 91.66) > best_rank(0.1, 1000, 1.175, 90.22)
    assert best_rank(0.1, 1000, 4.03, 91.0) > best_rank(0.1, 1000, 3.98, 90.0)
    assert best_rank(0.1, 1000, 4.4, 90.0) > best_rank(0.1, 1000, 8.0, 91.0)
