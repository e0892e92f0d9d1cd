import unittest

import textkit


class PackageTest(unittest.TestCase):
    def test_has_a_version(self) -> None:
        self.assertRegex(textkit.__version__, r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main()
