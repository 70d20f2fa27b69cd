using SineGrpc.Client.Cli;
using SineGrpc.Client.Tests.Support;

namespace SineGrpc.Client.Tests.Cli;

public sealed class SegmentOptionsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private SegmentOptions Parse(params string[] args) =>
        SegmentOptions.FromArguments(ArgumentParser.Parse(SegmentOptions.Command, args));

    private string[] Valid(params string[] more) =>
    [
        "--reference", _temp.Touch("a.jpg"), "--mask", _temp.Touch("a.png"),
        "--target", _temp.Touch("t.jpg"), "--output", _temp.File("out"), .. more,
    ];

    [Fact]
    public void Pairs_references_with_masks_in_order()
    {
        var b = _temp.Touch("b.jpg");
        var bMask = _temp.Touch("b.png");

        var options = Parse(Valid("--reference", b, "--mask", bMask, "--threshold", "0.3", "--max-instances", "10", "--model", "m"));

        Assert.Equal([_temp.File("a.jpg"), b], options.References.Select(r => r.Image));
        Assert.Equal([_temp.File("a.png"), bMask], options.References.Select(r => r.Mask));
        Assert.Equal(0.3f, options.Threshold);
        Assert.Equal(10, options.MaxInstanceCount);
        Assert.Equal("m", options.Model);
    }

    [Fact]
    public void Defaults_are_the_servers()
    {
        var options = Parse(Valid());

        Assert.Equal(SegmentOptions.DefaultThreshold, options.Threshold);
        Assert.Null(options.MaxInstanceCount);
        Assert.Null(options.Model);
    }

    [Fact]
    public void A_reference_without_its_mask_is_a_usage_error()
    {
        var error = Assert.Throws<UsageException>(() => Parse(Valid("--reference", _temp.Touch("b.jpg"))));
        Assert.Equal("2 --reference and 1 --mask given: give one --mask per --reference (the i-th mask labels the i-th reference)", error.Message);
    }

    [Fact]
    public void No_reference_is_a_usage_error()
    {
        var error = Assert.Throws<UsageException>(() => Parse("--target", _temp.Touch("t.jpg"), "--output", _temp.File("out")));
        Assert.Contains("at least one reference", error.Message);
    }

    [Theory]
    [InlineData("--target", "--target: no such file")]
    [InlineData("--mask", "--mask: no such file")]
    public void Missing_files_are_named(string option, string message)
    {
        var args = Valid();
        args[Array.IndexOf(args, option) + 1] = _temp.File("missing.png");

        Assert.StartsWith(message, Assert.Throws<UsageException>(() => Parse(args)).Message);
    }

    [Theory]
    [InlineData("--threshold", "1.5", "--threshold must be a number from 0 to 1, not '1.5'")]
    [InlineData("--threshold", "NaN", "--threshold must be a number from 0 to 1, not 'NaN'")]
    [InlineData("--max-instances", "0", "--max-instances must be a whole number from 1 to 100, not '0'")]
    public void Values_out_of_range_are_usage_errors(string option, string value, string message)
    {
        Assert.Equal(message, Assert.Throws<UsageException>(() => Parse(Valid(option, value))).Message);
    }

    [Fact]
    public void An_output_that_is_a_file_is_a_usage_error()
    {
        var args = Valid();
        args[Array.IndexOf(args, "--output") + 1] = _temp.Touch("file");

        Assert.Contains("must be a folder", Assert.Throws<UsageException>(() => Parse(args)).Message);
    }

    [Fact]
    public void A_target_given_twice_is_a_usage_error()
    {
        Assert.Equal("--target is given more than once", Assert.Throws<UsageException>(() => Parse(Valid("--target", _temp.File("t.jpg")))).Message);
    }
}
