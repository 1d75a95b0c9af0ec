"""Vision, audio and multimodal models on gems (small configs, random
weights): a tiny Llava (CLIP vision tower + Llama) runs forward and greedy
generate() on gems kernels alone (strict mode) and matches the native device;
HuggingFace vision and audio encoders (ViT, CLIP, ResNet, ConvNeXt, Whisper,
wav2vec2) run forward with no fallback; a tiny Mamba (state-space model) runs
forward, backward and generate(); a small
CNN (convolutions, batch norm, max pooling, a transposed convolution) trains
a few steps on gems kernels with losses and parameters matching CPU."""
import copy

import pytest
import torch

import flag_gems
from conftest import NATIVE, strict  # noqa: F401  (fixture)

transformers = pytest.importorskip("transformers")


def tiny_llava():
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=4, image_size=32, patch_size=8)
    text = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, vocab_size=200, max_position_embeddings=128)
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=199,
                                      projector_hidden_act="gelu", vision_feature_layer=-1)
    torch.manual_seed(0)
    return transformers.LlavaForConditionalGeneration(config).eval()


def test_llava_forward_and_generate_on_kernels_match_the_native_device(strict):
    model = tiny_llava()
    patches = (32 // 8) ** 2
    ids = torch.tensor([[1, 5, 6] + [199] * patches + [7, 8, 9]])
    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    native = model.to(NATIVE)
    flag_gems._C.set_strict(False)  # the native device's own run
    with torch.no_grad():
        expected = native(input_ids=ids.to(NATIVE), pixel_values=pixels.to(NATIVE)).logits.cpu()
        expected_tokens = native.generate(input_ids=ids.to(NATIVE), pixel_values=pixels.to(NATIVE),
                                          max_new_tokens=8, do_sample=False).cpu()
    flag_gems._C.set_strict(True)
    gems = model.to("gems")
    with torch.no_grad():
        got = gems(input_ids=ids.to("gems"), pixel_values=pixels.to("gems")).logits.cpu()
        tokens = gems.generate(input_ids=ids.to("gems"), pixel_values=pixels.to("gems"), max_new_tokens=8,
                               do_sample=False).cpu()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(tokens, expected_tokens)


def test_mamba_forward_generate_and_backward_on_kernels_match_cpu(strict):
    """A state-space model (Mamba: causal depthwise conv1d, softplus step
    sizes, the selective scan in PyTorch ops) on gems kernels alone: logits,
    greedy generate() and the gradients match CPU."""
    config = transformers.MambaConfig(vocab_size=64, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2,
                                      conv_kernel=4)
    torch.manual_seed(0)
    reference = transformers.MambaForCausalLM(config)
    model = copy.deepcopy(reference).to("gems")
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))
    expected = reference(input_ids=ids, labels=ids)
    got = model(input_ids=ids.to("gems"), labels=ids.to("gems"))
    torch.testing.assert_close(got.logits.cpu(), expected.logits, rtol=1e-4, atol=1e-4)
    expected.loss.backward()
    got.loss.backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad.cpu(), q.grad, rtol=1e-3, atol=1e-5, msg=name)
    with torch.no_grad():
        tokens = model.eval().generate(input_ids=ids.to("gems"), max_new_tokens=6, do_sample=False).cpu()
        expected_tokens = reference.eval().generate(input_ids=ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(tokens, expected_tokens)


def encoders():
    t = transformers
    image = {"pixel_values": (2, 3, 32, 32)}
    return {
        "vit": (lambda: t.ViTModel(t.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                               intermediate_size=64, image_size=32, patch_size=8)), image),
        "clip_vision": (lambda: t.CLIPVisionModel(t.CLIPVisionConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
            patch_size=8)), image),
        "resnet": (lambda: t.ResNetModel(t.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                                        layer_type="basic")), image),
        "convnext": (lambda: t.ConvNextModel(t.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2,
                                                              image_size=32)), image),
        "whisper_encoder": (lambda: t.WhisperModel(t.WhisperConfig(
            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
            encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16, max_source_positions=20, vocab_size=100,
            pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)).encoder,
            {"input_features": (2, 16, 40)}),
        # raw audio: a convolutional feature encoder (group norm), a weight-normed positional convolution
        "wav2vec2": (lambda: t.Wav2Vec2Model(t.Wav2Vec2Config(
            hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, conv_dim=(16, 16),
            conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)),
            {"input_values": (2, 400)}),
    }


@pytest.mark.parametrize("name", sorted(encoders()))
def test_vision_and_audio_encoders_run_on_kernels(name, strict):
    make, inputs = encoders()[name]
    torch.manual_seed(0)
    model = make().eval()
    generator = torch.Generator().manual_seed(2)
    inputs = {k: torch.randn(*shape, generator=generator) for k, shape in inputs.items()}
    flag_gems._C.set_strict(False)
    with torch.no_grad():
        expected = model.to(NATIVE)(**{k: v.to(NATIVE) for k, v in inputs.items()})[0].cpu()
    flag_gems._C.set_strict(True)
    with torch.no_grad():
        got = model.to("gems")(**{k: v.to("gems") for k, v in inputs.items()})[0].cpu()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1, groups=2), torch.nn.GroupNorm(4, 16), torch.nn.ReLU(),
            torch.nn.ConvTranspose2d(16, 8, 2, stride=2),  # back to the input's size
            torch.nn.Conv2d(8, 4, 1))

    def forward(self, x):
        return self.features(x)


def test_small_cnn_trains_on_kernels_as_on_cpu(strict):
    torch.manual_seed(0)
    model = SmallCNN()
    generator = torch.Generator().manual_seed(3)
    x, target = torch.randn(4, 3, 16, 16, generator=generator), torch.randn(4, 4, 16, 16, generator=generator)
    results = {}
    for device in ("cpu", "gems"):
        flag_gems._C.set_strict(device == "gems")
        m = copy.deepcopy(model).to(device).train()
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(m(x.to(device)), target.to(device))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        flag_gems._C.set_strict(False)
        results[device] = (losses, {k: v.cpu() for k, v in m.state_dict().items()})
    torch.testing.assert_close(results["gems"][0], results["cpu"][0], rtol=1e-4, atol=1e-5)
    for name, value in results["cpu"][1].items():  # parameters and batch norm's running statistics
        torch.testing.assert_close(results["gems"][1][name], value, rtol=1e-4, atol=1e-4, msg=name)
