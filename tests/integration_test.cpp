#define BOOST_TEST_MODULE integration
#include <boost/test/unit_test.hpp>
BOOST_AUTO_TEST_CASE(placeholder_until_cli) { BOOST_TEST(true); }
