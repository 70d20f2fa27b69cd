using System.Text;
using SineGrpc.Client.Png;

namespace SineGrpc.Client.Tests.Png;

public class Crc32Tests
{
    [Fact]
    public void Matches_the_standard_check_value()
    {
        // The CRC-32 catalogue's check value for "123456789".
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
    }

    [Fact]
    public void Matches_the_iend_chunk_crc_every_png_ends_with()
    {
        Assert.Equal(0xAE426082u, Crc32.Compute("IEND"u8));
    }

    [Fact]
    public void Appending_equals_computing_over_the_whole()
    {
        var whole = Encoding.ASCII.GetBytes("IHDR and some data");
        Assert.Equal(Crc32.Compute(whole), Crc32.Append(Crc32.Compute(whole.AsSpan(0, 4)), whole.AsSpan(4)));
    }
}
