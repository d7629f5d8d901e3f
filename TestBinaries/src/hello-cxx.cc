// hello-cxx: needs libstdc++.so.6 (std::string + iostream).
#include <iostream>
#include <string>

int main()
{
    std::string who = "c++";
    who += " world";
    std::cout << "hello " << who << std::endl;
    return 0;
}
