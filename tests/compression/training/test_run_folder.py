from compressor.compression.training.run_folder import folder_name


def test_a_model_name_becomes_one_folder_name():
    assert folder_name("digits_cnn") == "digits_cnn"
    assert folder_name("timm/resnet18.a1_in1k") == "timm_resnet18.a1_in1k"  # not a nested folder
    assert folder_name("mynet:MyNet") == "mynet_MyNet"
    assert folder_name("examples.own_model:Net") == "examples.own_model_Net"
