from tests.serving.test_rest_server import test_body_limits_without_content_length as t


def test_repeat(served):
    for _ in range(30):
        t(served)
